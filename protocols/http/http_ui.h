/*
 * http_ui.h: the management UI's files as compiled in by gen_ui.py (the
 * generated http_ui_files.c defines the table; http_ui.c serves it).
 */
#ifndef SLUICE_HTTP_UI_H
#define SLUICE_HTTP_UI_H

#include <stddef.h>

struct http_ui_file {
	const char *name;               /* base name: "index.html", "ui_core.js" */
	const char *type;               /* Content-Type */
	const unsigned char *data;
	size_t len;
};

extern const struct http_ui_file http_ui_files[];
extern const size_t http_ui_nfiles;

#endif
