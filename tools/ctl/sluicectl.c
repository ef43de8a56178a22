/* sluicectl: rabbitmqctl's commands and output over the management HTTP API.
 *
 * Options may come before or after the command name, as rabbitmqctl allows
 * ("list_queues --formatter json name"); "--" ends them. Connection settings
 * come from options, then SLUICECTL_HOST, SLUICECTL_PORT, SLUICECTL_USER,
 * SLUICECTL_PASSWORD and SLUICECTL_VHOST, then 127.0.0.1:15672 guest/guest
 * vhost "/". Every command returns a sysexits code (see ctl.h). */
#include "ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLUICECTL_VERSION "0.1.0"

static const struct ctl_cmd *const tables[] = {
	ctl_cmds_list, ctl_cmds_admin, ctl_cmds_queue, ctl_cmds_defs, ctl_cmds_access, NULL
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
	      "[--password <password>]\n          [--formatter tsv|json] [--quiet] "
	      "[--silent] [--timeout <seconds>] <command> [<args>]\n\n"
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

/* Options that take a value: "--opt value" or "--opt=value". */
static const char *const valued[] = {
	"--host", "--port", "--user", "-u", "--password", "--vhost", "-p",
	"--formatter", "--timeout", "-t", "--node", "-n", "--arguments",
	"--properties", "--destination-type", "--ackmode", NULL
};

static int
set_valued(struct ctl_opts *o, const char *opt, const char *val)
{
	if (!strcmp(opt, "--host"))
		o->host = val;
	else if (!strcmp(opt, "--port"))
		return parse_port(val, &o->port);
	else if (!strcmp(opt, "--user") || !strcmp(opt, "-u"))
		o->user = val;
	else if (!strcmp(opt, "--password"))
		o->password = val;
	else if (!strcmp(opt, "--vhost") || !strcmp(opt, "-p"))
		o->vhost = val;
	else if (!strcmp(opt, "--formatter")) {
		if (!strcmp(val, "json"))
			o->format = CTL_FMT_JSON;
		else if (!strcmp(val, "tsv") || !strcmp(val, "table"))
			o->format = CTL_FMT_TSV;
		else
			return ctl_usage_error("unsupported formatter '%s' (use tsv or json)",
			                       val);
	} else if (!strcmp(opt, "--timeout") || !strcmp(opt, "-t"))
		return parse_timeout(val, &o->timeout_ms);
	else if (!strcmp(opt, "--arguments"))
		o->arguments = val;
	else if (!strcmp(opt, "--properties"))
		o->properties = val;
	else if (!strcmp(opt, "--destination-type"))
		o->dest_type = val;
	else if (!strcmp(opt, "--ackmode"))
		o->ackmode = val;
	/* --node/-n: accepted for rabbitmqctl habits; the HTTP address decides */
	return 0;
}

static int
set_flag(struct ctl_opts *o, const char *opt)
{
	if (!strcmp(opt, "-q") || !strcmp(opt, "--quiet"))
		o->quiet = true;
	else if (!strcmp(opt, "-s") || !strcmp(opt, "--silent"))
		o->silent = true;
	else if (!strcmp(opt, "--help") || !strcmp(opt, "-h"))
		o->help = true;
	else if (!strcmp(opt, "--version")) {
		puts(SLUICECTL_VERSION);
		exit(CTL_EX_OK);
	} else if (!strcmp(opt, "--no-table-headers"))
		o->no_headers = true;
	else if (!strcmp(opt, "--durable"))
		o->durable = true;
	else if (!strcmp(opt, "--auto-delete") || !strcmp(opt, "--auto_delete"))
		o->auto_delete = true;
	else if (!strcmp(opt, "--internal"))
		o->internal = true;
	else if (!strcmp(opt, "--if-empty"))
		o->if_empty = true;
	else if (!strcmp(opt, "--if-unused"))
		o->if_unused = true;
	else if (!strcmp(opt, "--ack"))
		o->ack = true;
	else
		return ctl_usage_error("unknown option '%s'", opt);
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
		int k;

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
		for (k = 0; valued[k]; k++)
			if (strlen(valued[k]) == nlen && !strncmp(valued[k], a, nlen))
				break;
		if (!valued[k]) {
			if ((code = set_flag(o, a)) != 0)
				return code;
			continue;
		}
		if (nlen < strlen(a)) {
			code = set_valued(o, valued[k], a + nlen + 1);
		} else if (i + 1 < argc) {
			code = set_valued(o, valued[k], argv[++i]);
		} else {
			return ctl_usage_error("option '%s' needs a value", a);
		}
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

	if (!pos)
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
	return code;
}
