/* dkc_addr.c -- placeholder until the module lands. */
