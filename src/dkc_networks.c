/* dkc_networks.c -- placeholder until the module lands. */
