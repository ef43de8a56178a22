/*
 * sl_topology and sl_defs_load: topology sections and definitions
 * documents read through sl_config, typed arguments, and the error texts
 * (FILE:LINE for the file, the JSON path for a document). Applying to a
 * broker is covered by tests/integration/test_config_topology.py.
 */
#include "testlib.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "sl_config.h"
#include "bk_defs.h"          /* the plan a document becomes */

/* The adapters are not linked: their defaults, as far as this test cares. */
void
amqp_config_defaults(struct amqp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_inflight_content = 32u << 20;
}

void
mqtt_config_defaults(struct mqtt_config *c)
{
	memset(c, 0, sizeof(*c));
}

static char path[] = "/tmp/sluice-test-topo-XXXXXX";
static char jpath[] = "/tmp/sluice-test-topo-json-XXXXXX";

static void
write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	fputs(text, f);
	fclose(f);
}

/* Load text and finish: the return of whichever step failed first. */
static int
load(struct sl_config *c, const char *text, char *err, size_t errlen)
{
	int rc;

	write_file(path, text);
	sl_config_init(c);
	if ((rc = sl_config_load(c, path, err, errlen)) < 0)
		return rc;
	return sl_config_finish(c, err, errlen);
}

/* The error for text, with the temp file's path replaced by "F". */
static const char *
fails(const char *text)
{
	static char out[640];
	char err[512] = "";
	struct sl_config c;
	size_t n = strlen(path);

	size_t w = 0;

	if (load(&c, text, err, sizeof(err)) == 0)
		snprintf(err, sizeof(err), "(accepted)");
	for (const char *s = err; *s && w + 1 < sizeof(out); ) {
		if (strncmp(s, path, n) == 0) {
			out[w++] = 'F';
			s += n;
		} else if (strncmp(s, jpath, strlen(jpath)) == 0) {
			out[w++] = 'J';
			s += strlen(jpath);
		} else {
			out[w++] = *s++;
		}
	}
	out[w] = '\0';
	sl_config_fini(&c);
	return out;
}

static const struct sl_topo_obj *
find(const struct sl_config *c, enum sl_topo_kind kind, const char *name)
{
	for (size_t i = 0; i < c->topo.n; i++)
		if (c->topo.objs[i]->kind == kind && strcmp(c->topo.objs[i]->name, name) == 0)
			return c->topo.objs[i];
	return NULL;
}

/* The document's entry of kind k named name, or NULL. */
static const struct bk_defs_entry *
find_def(const struct sl_config *c, enum bk_defs_kind k, const char *name)
{
	const struct bk_defs *d = c->topo.defs;

	for (size_t i = 0; d != NULL && i < d->n[k]; i++)
		if (strcmp(d->e[k][i].name, name) == 0)
			return &d->e[k][i];
	return NULL;
}

static void
test_sections(void)
{
	struct sl_config c;
	const struct sl_topo_obj *o;
	struct bk_value v;
	char err[512];

	CHECK_EQ_INT(load(&c,
		"[queue orders]\n"
		"argument.x-message-ttl = 60000\n"
		"argument.x-single-active-consumer = yes\n"
		"argument.x-overflow = reject-publish\n"
		"argument.custom = int:-7\n"
		"argument.flag = bool:off\n"
		"argument.x-max-length = str:10\n"
		"durable = no\n"
		"[vhost /staging]\n"
		"[exchange events]\n"
		"type = topic\n"
		"alternate_exchange = ae\n"
		"internal = yes\n"
		"[binding one]\n"
		"source = events\n"
		"destination = orders\n"
		"routing_key = a.#\n"
		"[permission app /staging]\n"
		"configure = ^app\\.\n"
		"write = .*\n"
		"read =\n"
		"[user app]\n"
		"password_hash = abcd\n"
		"hashing_algorithm = rabbit_password_hashing_sha512\n",
		err, sizeof(err)), 0);
	CHECK_EQ_INT(c.topo.n, 5);
	o = find(&c, SL_T_QUEUE, "orders");
	CHECK(o != NULL && !o->durable && o->vhost == NULL);
	CHECK(bk_table_get(bk_tb_view(&o->args), "x-message-ttl", &v) &&
	      v.type == BK_V_I32 && v.u.i == 60000);
	CHECK(bk_table_get(bk_tb_view(&o->args), "x-single-active-consumer", &v) &&
	      v.type == BK_V_BOOL && v.u.b);
	CHECK(bk_table_get(bk_tb_view(&o->args), "x-overflow", &v) &&
	      v.type == BK_V_LSTR && v.u.s.len == 14);
	CHECK(bk_table_get(bk_tb_view(&o->args), "custom", &v) &&
	      v.type == BK_V_I32 && v.u.i == -7);
	CHECK(bk_table_get(bk_tb_view(&o->args), "flag", &v) &&
	      v.type == BK_V_BOOL && !v.u.b);
	CHECK(bk_table_get(bk_tb_view(&o->args), "x-max-length", &v) &&
	      v.type == BK_V_LSTR);
	o = find(&c, SL_T_EXCHANGE, "events");
	CHECK(o != NULL && o->durable && o->internal && strcmp(o->type, "topic") == 0);
	CHECK(bk_table_get(bk_tb_view(&o->args), "alternate-exchange", &v) &&
	      v.type == BK_V_LSTR && v.u.s.len == 2);
	o = find(&c, SL_T_BINDING, "one");
	CHECK(o != NULL && strcmp(o->source, "events") == 0 &&
	      strcmp(o->routing_key, "a.#") == 0 && !o->dest_is_exchange);
	o = find(&c, SL_T_PERMISSION, "app");
	CHECK(o != NULL && strcmp(o->vhost, "/staging") == 0 &&
	      strcmp(o->configure, "^app\\.") == 0 && strcmp(o->read, "") == 0);
	CHECK(find(&c, SL_T_VHOST, "/staging") != NULL);
	CHECK(sl_topo_has_permissions(&c.topo, "app"));
	CHECK_EQ_INT(c.n_users, 1);
	CHECK_STR(c.users[0].password_hash, "abcd");
	sl_config_fini(&c);
}

static void
test_errors(void)
{
	CHECK_STR(fails("[amqp]\n[queue q]\nfoo = 1\n"),
		  "F:3: unknown key 'foo' in section [queue q]");
	CHECK_STR(fails("[queue q]\ndurable = maybe\n"),
		  "F:2: invalid value 'maybe' for durable in [queue q]: expected yes or no");
	CHECK_STR(fails("[exchange x]\ntype = x-delayed\n"),
		  "F:2: unknown exchange type 'x-delayed' in [exchange x]: expected "
		  "direct, fanout, topic or headers");
	CHECK_STR(fails("[queue q]\nargument.x-expires = soon\n"),
		  "F:2: invalid value 'soon' for argument x-expires: expected an integer");
	CHECK_STR(fails("[queue q]\nargument.x-single-active-consumer = 2\n"),
		  "F:2: invalid value '2' for argument x-single-active-consumer: "
		  "expected true or false");
	CHECK_STR(fails("[queue q]\nargument.a = 1\nargument.a = 2\n"),
		  "F:3: argument 'a' given twice");
	CHECK_STR(fails("[queue q]\ndurable = yes\ndurable = no\n"),
		  "F:3: key 'durable' given twice in section [queue q]");
	CHECK_STR(fails("[queue q]\nexclusive = yes\n"),
		  "F:2: [queue q]: exclusive queues cannot be declared in the "
		  "configuration (an exclusive queue belongs to the connection that "
		  "declares it)");
	CHECK_STR(fails("[queue q]\nexclusive = no\n"), "(accepted)");
	CHECK_STR(fails("[queue]\n"), "F:1: section [queue] needs a name: [queue NAME]");
	CHECK_STR(fails("[permission bob]\n"),
		  "F:1: section [permission bob] needs a user and a vhost: "
		  "[permission USER VHOST]");
	CHECK_STR(fails("[permission bob /]\nconfigure = .*\nwrite = .*\n"),
		  "F:1: section [permission bob /] needs 'read'");
	CHECK_STR(fails("[binding b]\nsource = amq.topic\n"),
		  "F:1: section [binding b] needs 'destination'");
	CHECK_STR(fails("[binding b]\ndestination_type = topic\n"),
		  "F:2: invalid value 'topic' for destination_type in [binding b]: "
		  "expected queue or exchange");
	CHECK_STR(fails("[queue q]\n[amqp]\n[queue q]\n"),
		  "F:3: duplicate section [queue q]: 'q' in vhost '/' is already "
		  "declared at F:1");
	/* same name in another vhost is another queue */
	CHECK_STR(fails("[queue q]\n[queue q2]\nname = q\nvhost = /b\n"), "(accepted)");
	CHECK_STR(fails("[queue a]\n[queue b]\nname = a\n"),
		  "F:2: duplicate section [queue b]: 'a' in vhost '/' is already "
		  "declared at F:1");
	CHECK_STR(fails("[vhost v]\n[vhost v]\n"),
		  "F:2: duplicate section [vhost v] (first at F:1)");
	CHECK_STR(fails("[exchange x]\nvhost =\n"),
		  "F:2: invalid value '' for vhost in [exchange x]: expected a name of "
		  "1..255 characters");
	CHECK_STR(fails("[user u]\npassword = a\npassword_hash = b\n"),
		  "F:1: user 'u' has both password and password_hash: set one");
	CHECK_STR(fails("[user u]\nhashing_algorithm = sha256\npassword = a\n"),
		  "F:1: user 'u': hashing_algorithm needs password_hash");
}

static void
test_definitions(void)
{
	struct sl_config c;
	const struct bk_defs_entry *e;
	struct bk_value v;
	char conf[200], err[512];

	snprintf(conf, sizeof(conf), "[broker]\nload_definitions = %s\n", jpath);
	write_file(jpath,
		"{\"rabbit_version\": \"3.13.7\",\n"
		" \"users\": [{\"name\": \"u\", \"password_hash\": \"x\","
		"   \"hashing_algorithm\": \"rabbit_password_hashing_sha256\","
		"   \"tags\": [\"administrator\", \"management\"], \"limits\": {}}],\n"
		" \"vhosts\": [{\"name\": \"v\"}],\n"
		" \"permissions\": [{\"user\": \"u\", \"vhost\": \"v\", \"configure\": \".*\","
		"   \"write\": \".*\", \"read\": \".*\"}],\n"
		" \"policies\": [{\"name\": \"p\", \"vhost\": \"v\", \"pattern\": \"^q$\","
		"   \"definition\": {\"max-length\": 3}}],\n"
		" \"parameters\": [{\"name\": \"x\"}],\n"
		" \"exchanges\": [{\"name\": \"amq.topic\", \"vhost\": \"/\", \"type\": \"topic\"},"
		"   {\"name\": \"x\", \"vhost\": \"v\", \"type\": \"headers\", \"durable\": false}],\n"
		" \"queues\": [{\"name\": \"q\", \"vhost\": \"v\", \"durable\": true,"
		"   \"arguments\": {\"x-max-length\": 5, \"x-queue-type\": \"classic\","
		"   \"n\": {\"a\": [1, 2.5, null]}}}],\n"
		" \"bindings\": [{\"source\": \"x\", \"vhost\": \"v\", \"destination\": \"q\","
		"   \"destination_type\": \"queue\", \"routing_key\": \"k\","
		"   \"arguments\": {\"x-match\": \"any\"}}]}\n");
	CHECK_EQ_INT(load(&c, conf, err, sizeof(err)), 0);
	CHECK_EQ_INT(c.n_users, 0);                     /* the document's users
							   replace guest */
	CHECK_EQ_INT(sl_topo_user_count(&c.topo), 1);
	CHECK_EQ_INT(c.topo.n, 0);                      /* no sections */
	CHECK_EQ_INT(bk_defs_count(c.topo.defs, BK_DEFS_EXCHANGES), 1);  /* amq.topic
									   left out */
	CHECK_EQ_INT(bk_defs_count(c.topo.defs, BK_DEFS_BINDINGS), 1);
	CHECK_EQ_INT(bk_defs_count(c.topo.defs, BK_DEFS_POLICIES), 1);
	CHECK_EQ_INT(c.topo.n_notes, 1);                /* "1 parameters ignored" */
	e = find_def(&c, BK_DEFS_USERS, "u");
	CHECK(e != NULL && strcmp(e->tags, "administrator,management") == 0);
	e = find_def(&c, BK_DEFS_EXCHANGES, "x");
	CHECK(e != NULL && !e->durable && strcmp(e->type, "headers") == 0);
	e = find_def(&c, BK_DEFS_QUEUES, "q");
	CHECK(e != NULL && strcmp(e->vhost, "v") == 0);
	CHECK(bk_table_get(bk_tb_view(&e->args), "x-max-length", &v) &&
	      v.type == BK_V_I32 && v.u.i == 5);
	CHECK(bk_table_get(bk_tb_view(&e->args), "n", &v) && v.type == BK_V_TABLE);
	e = find_def(&c, BK_DEFS_BINDINGS, "q");
	CHECK(e != NULL && strcmp(e->at, "bindings[0]") == 0 && e->dest_is_queue);
	sl_config_fini(&c);

	write_file(jpath, "{\"policies\": [{\"name\": \"p\", \"definition\": {}}]}");
	CHECK_STR(fails(conf), "J: policies[0]: missing 'pattern'");
	write_file(jpath, "{\"queues\": [{\"name\": \"a\"}, {\"name\": \"b\","
		   " \"arguments\": {\"x-max-length\": \"10\"}}]}");
	CHECK_STR(fails(conf), "J: queues[1].arguments.x-max-length: expected an integer");
	write_file(jpath, "{\"queues\": [{\"name\": \"a\", \"durable\": \"yes\"}]}");
	CHECK_STR(fails(conf), "J: queues[0].durable: expected true or false");
	write_file(jpath, "{\"bindings\": [{\"source\": \"a\"}]}");
	CHECK_STR(fails(conf), "J: bindings[0]: missing 'destination'");
	write_file(jpath, "{\"queues\": {}}");
	CHECK_STR(fails(conf), "J: queues: expected a list");
	write_file(jpath, "{\"exchanges\": [{\"name\": \"e\", \"type\": \"x-foo\"}]}");
	CHECK_STR(fails(conf), "J: exchanges[0].type: unknown exchange type 'x-foo' "
		  "(expected direct, fanout, topic, headers, x-consistent-hash, "
		  "x-message-deduplication or x-delayed-message)");
	write_file(jpath, "{\"queues\": [\n  {\"name\": \"a\",]}");
	CHECK_STR(fails(conf), "J:2:17: malformed JSON (byte 29)");
	write_file(jpath, "[]");
	CHECK_STR(fails(conf), "J: expected a JSON object at the top");
}

int
main(void)
{
	int fd = mkstemp(path), jfd = mkstemp(jpath);

	if (fd < 0 || jfd < 0)
		return 1;
	close(fd);
	close(jfd);
	RUN(test_sections);
	RUN(test_errors);
	RUN(test_definitions);
	unlink(path);
	unlink(jpath);
	TEST_DONE();
}
