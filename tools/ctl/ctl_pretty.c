/* --formatter pretty_table, laid out as rabbitmqctl draws it: every cell
 * boxed, one blank column of padding on each side, values left-aligned,
 * a rule between all rows, the header row in bold on a terminal:
 *
 *   ┌──────┬──────────┐
 *   │ name │ messages │
 *   ├──────┼──────────┤
 *   │ q1   │ 12       │
 *   ├──────┼──────────┤
 *   │ q2   │ 0        │
 *   └──────┴──────────┘
 *
 * Widths count UTF-8 code points. Control characters in a value would break
 * the box, so they are drawn as spaces. */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Box pieces: left, middle, right joints of one horizontal rule. */
struct rule {
	const char *l, *m, *r;
};

static const struct rule top = { "┌", "┬", "┐" };
static const struct rule mid = { "├", "┼", "┤" };
static const struct rule bottom = { "└", "┴", "┘" };

static size_t
width_of(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

static void
draw_rule(const struct rule *r, const size_t *widths, int n)
{
	fputs(r->l, stdout);
	for (int i = 0; i < n; i++) {
		for (size_t k = 0; k < widths[i] + 2; k++)
			fputs("─", stdout);
		fputs(i + 1 < n ? r->m : r->r, stdout);
	}
	putchar('\n');
}

static void
draw_row(char **cells, const size_t *widths, int n, bool bold)
{
	for (int i = 0; i < n; i++) {
		const char *c = cells[i] ? cells[i] : "";

		fputs("│ ", stdout);
		if (bold)
			fputs("\033[1m", stdout);
		for (const char *p = c; *p; p++)
			putchar((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p);
		if (bold)
			fputs("\033[0m", stdout);
		for (size_t k = width_of(c); k < widths[i] + 1; k++)
			putchar(' ');
	}
	fputs("│\n", stdout);
}

void
ctl_print_pretty(const struct ctl_column *cols, const char **names,
                 int nnames, const cJSON *rows)
{
	int nrows = cJSON_GetArraySize(rows), r = 0;
	char **cells = calloc((size_t)(nrows + 1) * (size_t)nnames, sizeof(*cells));
	size_t *widths = calloc((size_t)nnames, sizeof(*widths));
	bool bold = isatty(STDOUT_FILENO);
	const cJSON *row;

	if (!cells || !widths || nrows == 0 || nnames == 0)
		goto out;
	for (int i = 0; i < nnames; i++)
		cells[i] = strdup(names[i]);
	cJSON_ArrayForEach(row, rows) {
		r++;
		for (int i = 0; i < nnames; i++)
			cells[r * nnames + i] =
				ctl_cell_dup(row, ctl_column_find(cols, names[i]));
	}
	for (int k = 0; k < (nrows + 1) * nnames; k++)
		if (cells[k] && width_of(cells[k]) > widths[k % nnames])
			widths[k % nnames] = width_of(cells[k]);
	draw_rule(&top, widths, nnames);
	for (r = 0; r <= nrows; r++) {
		if (r > 0)
			draw_rule(&mid, widths, nnames);
		draw_row(cells + r * nnames, widths, nnames, bold && r == 0);
	}
	draw_rule(&bottom, widths, nnames);
out:
	for (int k = 0; cells && k < (nrows + 1) * nnames; k++)
		free(cells[k]);
	free(cells);
	free(widths);
}
