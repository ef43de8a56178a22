/* sluicectl: rabbitmqctl's commands and output over the management HTTP API.
 *
 * Options may come before or after the command name, as rabbitmqctl allows
 * ("list_queues --formatter json name"); "--" ends them. Connection settings
 * come from options, then SLUICECTL_HOST, SLUICECTL_PORT, SLUICECTL_USER,
 * SLUICECTL_PASSWORD and SLUICECTL_VHOST, then 127.0.0.1:15672 guest/guest
 * vhost "/". Every command returns a sysexits code (see ctl.h). */
#include "ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLUICECTL_VERSION "0.1.0"

static const struct ctl_cmd *const tables[] = {
	ctl_cmds_list, ctl_cmds_admin, ctl_cmds_queue, ctl_cmds_defs, ctl_cmds_access,
	ctl_cmds_policy, ctl_cmds_health, ctl_cmds_cluster, NULL
};
static const struct ctl_cmd *current;   /* for usage errors */

static const struct ctl_cmd *
find_cmd(const char *name)
{
	for (int t = 0; tables[t]; t++)
		for (const struct ctl_cmd *c = tables[t]; c->name; c++)
			if (strcmp(c->name, name) == 0)
				return c;
	return NULL;
}

static void
print_usage(FILE *f)
{
	fputs("Usage:\nsluicectl [--host <host>] [--port <port>] [--user <user>] "
	      "[--password <password>]\n          [--formatter table|pretty_table|json] "
	      "[--quiet] [--silent] [--timeout <seconds>]\n          [--ssl] "
	      "[--cacert <file>] [--cert <file>] [--key <file>] "
	      "[--path-prefix <prefix>]\n          <command> [<args>]\n\n"
	      "Commands:\n", f);
	for (int t = 0; tables[t]; t++)
		for (const struct ctl_cmd *c = tables[t]; c->name; c++)
			fprintf(f, "   %s %s\n", c->name, c->usage);
	fputs("\nUse 'sluicectl help <command>' to learn more about a command.\n", f);
}

int
ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("Error (argument validation): ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (current)
		fprintf(stderr, "\nUsage\n\nsluicectl [--host <host>] [--port <port>] "
		        "[--quiet] %s %s\n", current->name, current->usage);
	return CTL_EX_USAGE;
}

static const char *
env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

static int
parse_port(const char *s, int *port)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < 1 || v > 65535)
		return ctl_usage_error("invalid port '%s'", s);
	*port = (int)v;
	return 0;
}

static int
parse_timeout(const char *s, int *ms)
{
	char *end;
	double v = strtod(s, &end);

	if (!*s || *end || v <= 0 || v > 86400)
		return ctl_usage_error("invalid timeout '%s' (seconds)", s);
	*ms = (int)(v * 1000);
	return 0;
}

/* Options whose value is kept as given: where it goes in ctl_opts. */
static const struct {
	const char *name;
	size_t off;
} strings[] = {
	{ "--host", offsetof(struct ctl_opts, host) },
	{ "--user", offsetof(struct ctl_opts, user) },
	{ "-u", offsetof(struct ctl_opts, user) },
	{ "--password", offsetof(struct ctl_opts, password) },
	{ "--vhost", offsetof(struct ctl_opts, vhost) },
	{ "-p", offsetof(struct ctl_opts, vhost) },
	{ "--arguments", offsetof(struct ctl_opts, arguments) },
	{ "--properties", offsetof(struct ctl_opts, properties) },
	{ "--destination-type", offsetof(struct ctl_opts, dest_type) },
	{ "--ackmode", offsetof(struct ctl_opts, ackmode) },
	{ "--apply-to", offsetof(struct ctl_opts, apply_to) },
	{ "--cacert", offsetof(struct ctl_opts, cacert) },
	{ "--ssl-ca-cert-file", offsetof(struct ctl_opts, cacert) },
	{ "--cert", offsetof(struct ctl_opts, cert) },
	{ "--ssl-cert-file", offsetof(struct ctl_opts, cert) },
	{ "--key", offsetof(struct ctl_opts, key) },
	{ "--ssl-key-file", offsetof(struct ctl_opts, key) },
	{ "--unit", offsetof(struct ctl_opts, unit) },
	/* --node/-n: named in banners; the HTTP address decides where to go */
	{ "--node", offsetof(struct ctl_opts, node) },
	{ "-n", offsetof(struct ctl_opts, node) },
	{ NULL, 0 }
};

/* Options whose value is checked here. */
static const char *const checked[] = {
	"--port", "--formatter", "--timeout", "-t", "--priority", "--within",
	"--path-prefix", NULL
};

/* Flags: where their "true" goes in ctl_opts. */
static const struct {
	const char *name;
	size_t off;
} flags[] = {
	{ "-q", offsetof(struct ctl_opts, quiet) },
	{ "--quiet", offsetof(struct ctl_opts, quiet) },
	{ "-s", offsetof(struct ctl_opts, silent) },
	{ "--silent", offsetof(struct ctl_opts, silent) },
	{ "-h", offsetof(struct ctl_opts, help) },
	{ "--help", offsetof(struct ctl_opts, help) },
	{ "--no-table-headers", offsetof(struct ctl_opts, no_headers) },
	{ "--durable", offsetof(struct ctl_opts, durable) },
	{ "--auto-delete", offsetof(struct ctl_opts, auto_delete) },
	{ "--auto_delete", offsetof(struct ctl_opts, auto_delete) },
	{ "--internal", offsetof(struct ctl_opts, internal) },
	{ "--if-empty", offsetof(struct ctl_opts, if_empty) },
	{ "--if-unused", offsetof(struct ctl_opts, if_unused) },
	{ "--ack", offsetof(struct ctl_opts, ack) },
	{ "--global", offsetof(struct ctl_opts, global) },
	{ "--ssl", offsetof(struct ctl_opts, ssl) },
	{ "--ssl-disable-hostname-verification",
	  offsetof(struct ctl_opts, no_verify_host) },
	{ "--insecure", offsetof(struct ctl_opts, insecure) },
	{ NULL, 0 }
};

static int
parse_int(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		return ctl_usage_error("invalid value '%s' for %s (an integer)", s, opt);
	return 0;
}

static int
set_formatter(struct ctl_opts *o, const char *val)
{
	if (!strcmp(val, "json"))
		o->format = CTL_FMT_JSON;
	else if (!strcmp(val, "tsv") || !strcmp(val, "table"))
		o->format = CTL_FMT_TSV;
	else if (!strcmp(val, "pretty_table"))
		o->format = CTL_FMT_PRETTY;
	else
		return ctl_usage_error("unsupported formatter '%s' (use table, "
		                       "pretty_table, json or tsv)", val);
	return 0;
}

/* "/prefix" with no trailing "/" (kept in a static buffer). */
static int
set_prefix(struct ctl_opts *o, const char *val)
{
	static char buf[256];
	size_t n = strlen(val);

	while (n > 0 && val[n - 1] == '/')
		n--;
	if (n > 0 && (val[0] != '/' || n >= sizeof(buf) ||
	              strcspn(val, "?#% \t\r\n") < n))
		return ctl_usage_error("invalid path prefix '%s' (like /rabbitmq)", val);
	memcpy(buf, val, n);
	buf[n] = '\0';
	o->path_prefix = buf;
	return 0;
}

static int
set_checked(struct ctl_opts *o, const char *opt, const char *val)
{
	if (!strcmp(opt, "--port"))
		return parse_port(val, &o->port);
	if (!strcmp(opt, "--formatter"))
		return set_formatter(o, val);
	if (!strcmp(opt, "--timeout") || !strcmp(opt, "-t"))
		return parse_timeout(val, &o->timeout_ms);
	if (!strcmp(opt, "--path-prefix"))
		return set_prefix(o, val);
	if (!strcmp(opt, "--priority"))
		o->priority = val;
	else
		o->within = val;
	return parse_int(opt, val, -2147483647L - 1, 2147483647L);
}

static int
set_flag(struct ctl_opts *o, const char *opt)
{
	if (!strcmp(opt, "--version")) {
		puts(SLUICECTL_VERSION);
		exit(CTL_EX_OK);
	}
	for (int k = 0; flags[k].name; k++)
		if (!strcmp(flags[k].name, opt)) {
			*(bool *)((char *)o + flags[k].off) = true;
			return 0;
		}
	return ctl_usage_error("unknown option '%s'", opt);
}

/* The value of option <a> (length <nlen> before any "="): from "--opt=v" or
 * the next argument. NULL when it has none. */
static const char *
option_value(int argc, char **argv, int *i, size_t nlen)
{
	const char *a = argv[*i];

	if (nlen < strlen(a))
		return a + nlen + 1;
	if (*i + 1 < argc)
		return argv[++*i];
	return NULL;
}

/* 0 if <a> (first <nlen> bytes) is a valued option, handled; 1 if it is
 * not one; or a usage exit code. */
static int
set_valued(struct ctl_opts *o, int argc, char **argv, int *i, size_t nlen)
{
	const char *a = argv[*i], *val;
	int k, s = -1, c = -1;

	for (k = 0; strings[k].name && s < 0; k++)
		if (strlen(strings[k].name) == nlen && !strncmp(strings[k].name, a, nlen))
			s = k;
	for (k = 0; checked[k] && s < 0 && c < 0; k++)
		if (strlen(checked[k]) == nlen && !strncmp(checked[k], a, nlen))
			c = k;
	if (s < 0 && c < 0)
		return 1;
	if (!(val = option_value(argc, argv, i, nlen)))
		return ctl_usage_error("option '%s' needs a value", a);
	if (c >= 0)
		return set_checked(o, checked[c], val);
	*(const char **)((char *)o + strings[s].off) = val;
	return 0;
}

/* Splits argv into options and positionals; positionals land in <pos>
 * (the command name first). */
static int
parse_args(int argc, char **argv, struct ctl_opts *o, const char **pos, int *npos)
{
	bool opts_done = false;
	int code;

	*npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		size_t nlen;

		if (opts_done || a[0] != '-' || a[1] == '\0') {
			pos[(*npos)++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			opts_done = true;
			continue;
		}
		eq = strchr(a, '=');
		nlen = eq && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
		code = set_valued(o, argc, argv, &i, nlen);
		if (code == 1)
			code = set_flag(o, a);
		if (code != 0)
			return code;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct ctl_opts o = { 0 };
	const char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	const char *cmd_name;
	int npos, code, nargs;

	if (!pos || ctl_http_global_init() < 0)
		return CTL_EX_SOFTWARE;
	o.host = env_or("SLUICECTL_HOST", "127.0.0.1");
	o.user = env_or("SLUICECTL_USER", "guest");
	o.password = env_or("SLUICECTL_PASSWORD", "guest");
	o.vhost = env_or("SLUICECTL_VHOST", "/");
	o.timeout_ms = 60000;
	if ((code = parse_port(env_or("SLUICECTL_PORT", "15672"), &o.port)) != 0)
		goto out;
	if ((code = parse_args(argc, argv, &o, pos, &npos)) != 0)
		goto out;
	if (npos == 0 && o.help) {
		print_usage(stdout);
		code = CTL_EX_OK;
		goto out;
	}
	if (npos == 0) {
		print_usage(stderr);
		code = CTL_EX_USAGE;
		goto out;
	}
	cmd_name = pos[0];
	if (o.help && strcmp(cmd_name, "help") != 0) {
		pos[1] = cmd_name;
		pos[0] = cmd_name = "help";
		npos = 2;
	}
	if (!strcmp(cmd_name, "help")) {
		if (npos > 1 && (current = find_cmd(pos[1])))
			printf("Usage: sluicectl %s %s\n", current->name, current->usage);
		else
			print_usage(stdout);
		code = CTL_EX_OK;
		goto out;
	}
	if (!strcmp(cmd_name, "version")) {
		puts(SLUICECTL_VERSION);
		code = CTL_EX_OK;
		goto out;
	}
	if (!(current = find_cmd(cmd_name))) {
		fprintf(stderr, "\nCommand '%s' not found.\n\n", cmd_name);
		print_usage(stderr);
		code = CTL_EX_USAGE;
		goto out;
	}
	nargs = npos - 1;
	if (nargs < current->min_args) {
		code = ctl_usage_error("not enough arguments.");
		goto out;
	}
	if (current->max_args >= 0 && nargs > current->max_args) {
		code = ctl_usage_error("too many arguments.");
		goto out;
	}
	o.args = pos + 1;
	o.nargs = nargs;
	code = current->run(&o);
out:
	fflush(stdout);
	free(pos);
	ctl_http_global_fini();
	return code;
}
