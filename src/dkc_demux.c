/* dkc_demux.c -- placeholder until the module lands. */
