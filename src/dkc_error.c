/* dkc_error.c -- placeholder until the module lands. */
