/*
 * fuzz_amqp.c: libFuzzer target for the AMQP 0-9-1 codec and the field
 * table codec.
 *
 * The input is read as a stream of frames (type, channel, size, payload,
 * end octet; a short last frame takes what is left):
 *   method frames    decode; if accepted, re-encode and check that the
 *                    encoding has the input's length and is a fixed
 *                    point (decode(encode(m)) encodes to the same bytes);
 *                    every table argument is walked and rebuilt;
 *   header frames    decode; if accepted (class 60), re-encode and check
 *                    the bytes equal the input payload;
 *   any other type   the payload is validated as a field table and, if
 *                    well formed, walked and rebuilt.
 * Any mismatch aborts, which libFuzzer reports as a crash.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_codec.h"

#define REQUIRE(x) do { \
	if (!(x)) { \
		fprintf(stderr, "fuzz_amqp: %s:%d: %s\n", __FILE__, __LINE__, #x); \
		abort(); \
	} \
} while (0)

static void rebuild_table(struct bk_table t, struct bk_table_builder *out);

/* Copy v into out, rebuilding nested containers through the readers. */
static void
rebuild_value(const struct bk_value *v, struct bk_value *copy,
	      struct bk_table_builder *nested)
{
	*copy = *v;
	bk_tb_init(nested);
	if (v->type == BK_V_TABLE) {
		rebuild_table(v->u.t, nested);
		copy->u.t = bk_tb_view(nested);
	} else if (v->type == BK_V_ARRAY) {
		struct bk_value e, ec;
		struct bk_table_builder en;
		uint32_t pos = 0;

		while (bk_array_next(v->u.a, &pos, &e) == 1) {
			rebuild_value(&e, &ec, &en);
			bk_tb_put_value(nested, &ec);
			bk_tb_fini(&en);
		}
		REQUIRE(pos == v->u.a.len);
		copy->u.a = bk_tb_view(nested);
	}
}

static void
rebuild_table(struct bk_table t, struct bk_table_builder *out)
{
	struct bk_value v, copy;
	struct bk_table_builder nested;
	struct bk_str name;
	uint32_t pos = 0;

	while (bk_table_next(t, &pos, &name, &v) == 1) {
		int64_t i;

		(void)bk_value_int(&v, &i);
		rebuild_value(&v, &copy, &nested);
		bk_tb_put(out, name.p, name.len, &copy);
		bk_tb_fini(&nested);
	}
	REQUIRE(pos == t.len);
}

/*
 * A validated table rebuilt through the readers and the builder has the
 * same length (letters and bool octets may be canonicalised), is valid,
 * and rebuilds to itself.
 */
static void
check_table(struct bk_table t)
{
	struct bk_table_builder a, b;
	struct bk_value v;

	bk_tb_init(&a);
	bk_tb_init(&b);
	rebuild_table(t, &a);
	REQUIRE(a.len == t.len);
	REQUIRE(bk_table_validate(bk_tb_view(&a)) == 0);
	rebuild_table(bk_tb_view(&a), &b);
	REQUIRE(a.len == b.len && (a.len == 0 || memcmp(a.buf, b.buf, a.len) == 0));
	(void)bk_table_get(t, "x-match", &v);
	bk_tb_fini(&a);
	bk_tb_fini(&b);
}

static void
check_method(const uint8_t *p, size_t len)
{
	const struct amqp_method_desc *d;
	struct amqp_method m, m2;
	uint8_t *a, *b;
	size_t size;
	int n;

	if (amqp_method_decode(p, len, &m) != 1)
		return;
	(void)amqp_method_name(m.id);
	(void)amqp_method_has_content(m.id);
	(void)amqp_method_is_client_to_server(m.id);
	d = amqp_method_desc_find(m.id);
	REQUIRE(d != NULL);
	for (unsigned i = 0; i < d->nfields; i++)
		if (d->fields[i].type == AMQP_F_TABLE)
			check_table(*(const struct bk_table *)
				    ((const uint8_t *)&m.u + d->fields[i].offset));

	size = amqp_method_frame_size(&m);
	REQUIRE(size == len + AMQP_FRAME_OVERHEAD);
	a = malloc(size);
	b = malloc(size);
	REQUIRE(amqp_method_frame_encode(a, size - 1, 9, &m) == -ENOSPC);
	n = amqp_method_frame_encode(a, size, 9, &m);
	REQUIRE(n == (int)size);
	REQUIRE(memcmp(a + AMQP_FRAME_HDR_SIZE, p, 4) == 0);
	REQUIRE(amqp_method_decode(a + AMQP_FRAME_HDR_SIZE, len, &m2) == 1);
	REQUIRE(m2.id == m.id);
	REQUIRE(amqp_method_frame_encode(b, size, 9, &m2) == n);
	REQUIRE(memcmp(a, b, size) == 0);
	free(a);
	free(b);
}

static void
check_header(const uint8_t *p, size_t len)
{
	struct bk_props props;
	uint16_t class_id;
	uint64_t body;
	uint8_t *a;
	size_t size;

	if (amqp_content_header_decode(p, len, &class_id, &body, &props) != 1)
		return;
	if (props.present & BK_P_HEADERS)
		check_table(props.headers);
	size = amqp_content_header_frame_size(&props);
	REQUIRE(size == len + AMQP_FRAME_OVERHEAD);
	a = malloc(size);
	REQUIRE(amqp_content_header_frame_encode(a, size, 1, body, &props) == (int)size);
	if (class_id == AMQP_CLASS_BASIC)
		REQUIRE(memcmp(a + AMQP_FRAME_HDR_SIZE, p, len) == 0);
	free(a);
}

static void
check_raw_table(const uint8_t *p, size_t len)
{
	struct bk_table t = { p, (uint32_t)len };

	if (bk_table_validate(t) == 0)
		check_table(t);
	if (bk_array_validate(t) == 0) {
		struct bk_value v;
		uint32_t pos = 0;

		while (bk_array_next(t, &pos, &v) == 1)
			;
		REQUIRE(pos == t.len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	while (size >= AMQP_FRAME_HDR_SIZE) {
		struct amqp_frame_hdr h;
		size_t len;
		uint8_t *copy;

		amqp_frame_hdr_parse(data, &h);
		data += AMQP_FRAME_HDR_SIZE;
		size -= AMQP_FRAME_HDR_SIZE;
		len = h.size < size ? h.size : size;
		/* an exact-size heap copy, so ASan sees reads past the payload */
		copy = malloc(len ? len : 1);
		memcpy(copy, data, len);
		switch (h.type) {
		case AMQP_FRAME_METHOD: check_method(copy, len); break;
		case AMQP_FRAME_HEADER: check_header(copy, len); break;
		case AMQP_FRAME_BODY:
		case AMQP_FRAME_HEARTBEAT: break;
		default: check_raw_table(copy, len); break;
		}
		free(copy);
		data += len;
		size -= len;
		if (size > 0) {                 /* end octet */
			data++;
			size--;
		}
	}
	return 0;
}
