/* dkc_config.c -- placeholder until the module lands. */
