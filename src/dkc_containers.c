/* dkc_containers.c -- placeholder until the module lands. */
