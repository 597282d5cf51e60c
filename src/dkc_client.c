/* dkc_client.c -- placeholder until the module lands. */
