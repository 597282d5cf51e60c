/* dkc_exec.c -- placeholder until the module lands. */
