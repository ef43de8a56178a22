#!/usr/bin/env python3
"""Embed dashboard.html into a C file: gen_dashboard.py IN.html OUT.c

The page becomes one byte array (so no escaping questions) plus its length;
http_dashboard.c serves it from memory."""
import sys


def main():
    src, dst = sys.argv[1], sys.argv[2]
    data = open(src, "rb").read()
    with open(dst, "w") as out:
        out.write("/* Generated from dashboard.html by gen_dashboard.py: do not edit. */\n")
        out.write("#include <stddef.h>\n\n")
        out.write("const unsigned char http_dashboard_html[] = {\n")
        for i in range(0, len(data), 16):
            out.write("\t" + ", ".join("0x%02x" % b for b in data[i:i + 16]) + ",\n")
        out.write("};\n")
        out.write("const size_t http_dashboard_html_len = %d;\n" % len(data))


if __name__ == "__main__":
    main()
