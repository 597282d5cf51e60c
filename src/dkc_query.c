/* dkc_query.c -- placeholder until the module lands. */
