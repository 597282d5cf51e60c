/* dkc_jsonl.c -- placeholder until the module lands. */
