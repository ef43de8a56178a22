/*
 * Persistence in the core against the real journal in a temporary
 * directory: the property codec round trip, field tables through JSON, a
 * confirmed publish that survives a broker restart (definitions and
 * message), settlement, and paging past the memory budget.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "testlib.h"
#include "bk_persist.h"
#include "storage.h"
#include "persist_start.h"


static char dir[64];
static struct event_base *base;

static void
test_props_codec(void)
{
	static const uint8_t hdr[] = { 1, 'k', 'I', 0, 0, 0, 7 };
	struct bk_props p = { 0 }, q;
	uint8_t buf[512];
	size_t n;

	p.present = BK_P_CONTENT_TYPE | BK_P_HEADERS | BK_P_DELIVERY_MODE |
		    BK_P_PRIORITY | BK_P_TIMESTAMP | BK_P_APP_ID;
	p.content_type = BK_STR_LIT("text/plain");
	p.headers = (struct bk_table){ hdr, sizeof(hdr) };
	p.delivery_mode = 2;
	p.priority = 5;
	p.timestamp = 0x123456789ull;
	p.app_id = BK_STR_LIT("app");
	n = bk_props_encoded_size(&p);
	CHECK(n < sizeof(buf));
	bk_props_encode(&p, buf);
	CHECK_EQ_INT(bk_props_decode(buf, n, &q), 0);
	CHECK_EQ_INT(q.present, p.present);
	CHECK(bk_str_eq_c(q.content_type, "text/plain"));
	CHECK(bk_str_eq_c(q.app_id, "app"));
	CHECK_EQ_INT(q.headers.len, sizeof(hdr));
	CHECK(memcmp(q.headers.p, hdr, sizeof(hdr)) == 0);
	CHECK_EQ_INT(q.timestamp, p.timestamp);
	CHECK_EQ_INT(q.priority, 5);
	CHECK_EQ_INT(bk_props_decode(buf, n - 1, &q), -EPROTO);
	buf[14] = 0xff;                         /* content-type length way off */
	CHECK_EQ_INT(bk_props_decode(buf, n, &q), -EPROTO);
}

static void
test_table_json(void)
{
	struct bk_table_builder b, inner, back;
	struct bk_value v = { .type = BK_V_I64 }, got;
	cJSON *j;
	char why[256];

	bk_tb_init(&b);
	bk_tb_init(&inner);
	bk_tb_init(&back);
	v.u.i = 5000000000LL;
	bk_tb_put(&b, "big", 3, &v);
	v.type = BK_V_I8;
	v.u.i = -3;
	bk_tb_put(&b, "small", 5, &v);
	v.type = BK_V_LSTR;
	v.u.s = BK_STR_LIT("str");
	bk_tb_put(&inner, "s", 1, &v);
	v.type = BK_V_TABLE;
	v.u.t = bk_tb_view(&inner);
	bk_tb_put(&b, "nested", 6, &v);
	v.type = BK_V_BOOL;
	v.u.b = true;
	bk_tb_put(&b, "flag", 4, &v);
	j = bk_table_to_json(bk_tb_view(&b));
	CHECK_EQ_INT(bk_table_from_json(j, &back, why, sizeof(why)), 0);
	CHECK(bk_table_get(bk_tb_view(&back), "big", &got) && got.type == BK_V_I64 &&
	      got.u.i == 5000000000LL);
	CHECK(bk_table_get(bk_tb_view(&back), "small", &got) && got.type == BK_V_I32 &&
	      got.u.i == -3);
	CHECK(bk_table_get(bk_tb_view(&back), "flag", &got) && got.type == BK_V_BOOL);
	CHECK(bk_table_get(bk_tb_view(&back), "nested", &got) && got.type == BK_V_TABLE &&
	      bk_table_get(got.u.t, "s", &got) && bk_str_eq_c(got.u.s, "str"));
	cJSON_Delete(j);
	bk_tb_fini(&b);
	bk_tb_fini(&inner);
	bk_tb_fini(&back);
}

static int durable_status = 1;
static uint64_t durable_token;

static void
on_durable(void *ctx, uint64_t token, int status)
{
	durable_status = status;
	durable_token = token;
}

static struct bk_broker *
start(uint64_t budget)
{
	return persist_broker_start(dir, base, budget);
}

static void
publish(struct bk_vhost *vh, struct bk_confirm *c, uint64_t token, const char *body,
	uint8_t mode, struct bk_route_result *res)
{
	struct bk_props props = { .present = BK_P_DELIVERY_MODE, .delivery_mode = mode };
	struct bk_msg *m = bk_msg_new(BK_STR_LIT(""), BK_STR_LIT("dq"), &props, strlen(body));
	struct bk_err err;

	memcpy(bk_msg_body(m), body, strlen(body));
	CHECK_EQ_INT(bk_publish_confirm(vh, BK_STR_LIT(""), m, c, token, res, &err), BK_OK);
	bk_msg_unref(m);
}

static void
test_restart(void)
{
	struct bk_queue_decl d = { .name = BK_STR_LIT("dq"), .durable = true };
	struct bk_broker *b = start(0);
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	struct bk_confirm *c = bk_confirm_new(b, on_durable, NULL);
	struct bk_route_result res;
	struct bk_delivery *dl;
	struct bk_queue *q;
	struct bk_err err;
	uint32_t n;

	CHECK_EQ_INT(bk_queue_declare(vh, &d, NULL, NULL, NULL, &err), BK_OK);
	publish(vh, c, 7, "transient", 1, &res);
	CHECK(!res.pending);
	publish(vh, c, 8, "one", 2, &res);
	CHECK(res.pending && res.queues == 1);
	CHECK_EQ_INT(durable_status, 1);        /* never from inside the call */
	publish(vh, c, 9, "two", 2, &res);
	while (durable_token != 9)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK_EQ_INT(durable_status, 0);
	/* take "transient" and "one" and ack them: only "two" is left */
	q = bk_queue_get(vh, BK_STR_LIT("dq"));
	CHECK_EQ_INT(bk_queue_get_one(q, false, &dl, &n), BK_OK);
	bk_delivery_settle(dl, BK_SETTLE_ACK);
	CHECK_EQ_INT(bk_queue_get_one(q, false, &dl, &n), BK_OK);
	bk_delivery_settle(dl, BK_SETTLE_ACK);
	bk_confirm_free(c);
	bk_broker_free(b);

	b = start(0);
	vh = bk_vhost_get(b, "/");
	q = bk_queue_get(vh, BK_STR_LIT("dq"));
	CHECK(q != NULL);
	CHECK_EQ_INT(q ? bk_queue_message_count(q) : 0, 1);
	if (q != NULL && bk_queue_get_one(q, false, &dl, &n) == BK_OK && dl != NULL) {
		CHECK(dl->redelivered);
		CHECK_EQ_INT(dl->msg->body_len, 3);
		CHECK(memcmp(bk_msg_body(dl->msg), "two", 3) == 0);
		bk_delivery_settle(dl, BK_SETTLE_REQUEUE);
	}
	bk_broker_free(b);
}

static void
test_paging(void)
{
	struct bk_broker *b = start(1);        /* every body past the budget */
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	struct bk_route_result res;
	struct bk_delivery *dl;
	struct bk_queue *q = bk_queue_get(vh, BK_STR_LIT("dq"));
	char body[32];
	uint32_t n;
	int i;

	CHECK(q != NULL);
	if (q == NULL)
		return;
	for (i = 0; i < 20; i++) {
		snprintf(body, sizeof(body), "paged-%02d", i);
		publish(vh, NULL, 0, body, 2, &res);
	}
	CHECK(bk_persist_get(b)->paged_out >= 19);
	CHECK_EQ_INT(bk_queue_message_count(q), 21);
	CHECK_EQ_INT(bk_queue_get_one(q, true, &dl, &n), BK_OK);   /* "two" */
	bk_delivery_settle(dl, BK_SETTLE_ACK);
	for (i = 0; i < 20; i++) {
		CHECK_EQ_INT(bk_queue_get_one(q, true, &dl, &n), BK_OK);
		if (dl == NULL)
			break;
		snprintf(body, sizeof(body), "paged-%02d", i);
		CHECK_EQ_INT(dl->msg->body_len, strlen(body));
		CHECK(bk_msg_body(dl->msg) != NULL && memcmp(bk_msg_body(dl->msg), body, strlen(body)) == 0);
		bk_delivery_settle(dl, BK_SETTLE_ACK);
	}
	bk_broker_free(b);
}

/* A batch that cannot be written is reported; later publishes are
 * refused (nack) while the journal is failed, not silently confirmed. */
static void
test_write_failure(void)
{
	struct bk_broker *b = start(0);
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	struct bk_confirm *c = bk_confirm_new(b, on_durable, NULL);
	struct bk_route_result res;
	struct st_journal *j = bk_persist_get(b)->j;
	int i;

	durable_status = 1;
	st_journal_inject_failure(j, -ENOSPC, 1000);
	publish(vh, c, 1, "lost", 2, &res);
	CHECK(res.pending);
	for (i = 0; i < 100 && durable_status == 1; i++)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK_EQ_INT(durable_status, -ENOSPC);
	publish(vh, c, 2, "refused", 2, &res);
	CHECK(!res.pending);
	CHECK_EQ_INT(res.refused, 1);
	CHECK_EQ_INT(res.queues, 0);
	publish(vh, c, 3, "transient is fine", 1, &res);
	CHECK(!res.pending && res.refused == 0 && res.queues == 1);
	st_journal_inject_failure(j, 0, 0);
	bk_confirm_free(c);
	bk_broker_free(b);
}

int
main(void)
{
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/sluice-test-persist-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	base = event_base_new();
	RUN(test_props_codec);
	RUN(test_table_json);
	RUN(test_restart);
	RUN(test_paging);
	RUN(test_write_failure);
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	TEST_DONE();
}
