/* dkc_volumes.c -- placeholder until the module lands. */
