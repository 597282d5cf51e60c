/* dkc_images.c -- placeholder until the module lands. */
