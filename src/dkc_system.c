/* dkc_system.c -- placeholder until the module lands. */
