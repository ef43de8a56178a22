#!/usr/bin/env python3
"""Embed the management UI's files into a C file: gen_ui.py OUT.c FILE...

Each file becomes one byte array (so no escaping questions) in a table of
{name, content type, bytes, length} that http_ui.c serves from memory.
The name is the file's base name; the type comes from its extension."""
import os
import sys

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def main():
    dst, srcs = sys.argv[1], sys.argv[2:]
    with open(dst, "w") as out:
        out.write("/* Generated from protocols/http/ui/ by gen_ui.py: do not edit. */\n")
        out.write('#include "http_ui.h"\n\n')
        for i, src in enumerate(srcs):
            data = open(src, "rb").read()
            out.write("static const unsigned char f%d[] = {\n" % i)
            for j in range(0, len(data), 16):
                out.write("\t" + ", ".join("0x%02x" % b for b in data[j:j + 16]) + ",\n")
            out.write("};\n")
        out.write("\nconst struct http_ui_file http_ui_files[] = {\n")
        for i, src in enumerate(srcs):
            name = os.path.basename(src)
            ctype = TYPES[os.path.splitext(name)[1]]
            out.write('\t{ "%s", "%s", f%d, sizeof(f%d) },\n' % (name, ctype, i, i))
        out.write("};\n")
        out.write("const size_t http_ui_nfiles = %d;\n" % len(srcs))


if __name__ == "__main__":
    main()
