/*
 * amqp_channel_int.h: private to the channel layer (amqp_channel*.c).
 *
 * One struct amqp_channel per open AMQP channel. The files split by method
 * family:
 *   amqp_channel.c           lifecycle, dispatch, channel.*, channel errors
 *   amqp_channel_topology.c  exchange.* and queue.*
 *   amqp_channel_content.c   basic.publish and content assembly (limits,
 *                            stalled-content timer)
 *   amqp_channel_publish.c   routing a complete publish, confirms,
 *                            mandatory returns, direct reply-to addresses
 *   amqp_channel_tx.c        tx.* and confirm.select
 *   amqp_channel_consume.c   basic.qos/consume/cancel, delivery to the client
 *   amqp_channel_ack.c       unacked bookkeeping, basic.ack/nack/reject/
 *                            recover/get
 *
 * Re-entrancy: bk_publish() and bk_delivery_settle() may call our
 * consumers' deliver() synchronously, and deliver() appends to the unacked
 * list. Every loop that settles deliveries therefore detaches them from the
 * list first and never holds an iterator across a core call.
 */
#ifndef SLUICE_AMQP_CHANNEL_INT_H
#define SLUICE_AMQP_CHANNEL_INT_H

#include <uthash.h>

#include "amqp_int.h"

#define AMQP_SHORTSTR_MAX 255

/* A length-counted copy of a shortstr, kept inside a consumer. */
struct amqp_sstr {
	uint8_t len;
	char p[AMQP_SHORTSTR_MAX + 1];
};

/* A shortstr the channel remembers (the exchange last published to, a
 * queue name): on the heap, grown to the longest value seen, none until
 * the first set, so an idle channel holds a few words, not 256 octets
 * per name. p is NUL-terminated when set; NULL before. */
struct amqp_cstr {
	char *p;                        /* owned */
	uint16_t len, cap;              /* cap: room for cap octets + NUL */
};

/* Where the channel is in the publish content sequence [§4.2.6]. */
enum amqp_content_state {
	AMQP_CONTENT_IDLE,              /* expecting a method */
	AMQP_CONTENT_HEADER,            /* basic.publish seen, expecting its header */
	AMQP_CONTENT_BODY,              /* header seen, expecting body frames */
};

/* One basic.consume on this channel. */
struct amqp_consumer {
	struct amqp_channel *ch;        /* borrowed; the channel outlives it */
	struct bk_consumer *bc;         /* the core's consumer; cancelled before free */
	bool no_ack;
	bool ok_pending;                /* consume-ok not yet written: park deliveries */
	struct amqp_sstr tag;           /* tag.p is the uthash key (tag.len bytes) */
	UT_hash_handle hh;              /* in ch->consumers */
};

/*
 * A decision held back behind a publish that waits for the journal (see
 * amqp_channel_publish.c, "durability").
 */
enum { AMQP_CF_PUB, AMQP_CF_COMMIT };
enum { AMQP_CF_PENDING, AMQP_CF_OK, AMQP_CF_FAIL };
struct amqp_cf {
	uint64_t seq;                   /* publish sequence number; 0 for a commit */
	uint8_t kind;                   /* AMQP_CF_* */
	uint8_t state;                  /* AMQP_CF_PENDING/OK/FAIL */
};

/* A publish held back by tx.select until tx.commit. */
struct amqp_tx_pub {
	struct bk_msg *msg;             /* ref */
	bool mandatory;
};

/* A -ok waiting for the definitions file (amqp_channel_topology.c): only
 * a channel that changed something durable has one. */
struct amqp_defs_wait {
	struct bk_confirm *c;           /* owned */
	bool waiting;                   /* ok is held; so is the input */
	struct amqp_method ok;
	struct amqp_cstr name;          /* ok's queue name */
};

/*
 * A confirm or tx channel's state (amqp_channel_publish.c,
 * amqp_channel_tx.c), made by confirm.select or tx.select: a channel that
 * uses neither holds only the pointer.
 */
struct amqp_ch_cx {
	/* confirms: routing is synchronous, so confirms are always decided
	 * in sequence order and one "acked up to" mark suffices */
	uint64_t pub_seq;               /* last sequence number given out */
	uint64_t confirm_upto;          /* decided, waiting for the flush */
	uint64_t confirm_sent;          /* acked or nacked on the wire */
	struct event *confirm_ev;       /* owned, made on first use; deferred flush */
	bool confirm_ev_armed;
	bool tx_failed;                 /* a tx publish could not be made durable */
	/* durability: the core's tracker (made at the first publish) and,
	 * while some publish waits for the journal's fsync, every later
	 * decision in order (ring of cf_mask + 1 slots) */
	struct bk_confirm *durable;     /* owned */
	struct amqp_cf *cf;             /* owned ring */
	uint32_t cf_head, cf_count, cf_mask;
	/* transactions */
	uint32_t tx_npubs, tx_cap;
	struct amqp_tx_pub *tx_pubs;    /* owned array */
	struct bk_delivery *tx_head, *tx_tail; /* acked/rejected in the tx;
						  adapter_data = enum bk_settle */
};

/* Direct reply-to (amqp_channel_consume.c): made by the first consume
 * of amq.rabbitmq.reply-to, kept with the channel. */
struct amqp_ch_reply {
	struct bk_consumer *bc;         /* the pseudo consumer, or NULL */
	const char *name;               /* borrowed from bc */
	struct amqp_cstr tag;
};

/* Fields are grouped by size so that the struct has no holes. */
struct amqp_channel {
	struct amqp_conn *conn;         /* borrowed; owns this channel */
	uint16_t id;
	bool closing;                   /* channel.close sent, waiting for close-ok */
	bool released;                  /* consumers and deliveries already given back */
	bool pub_mandatory;             /* of the publish being assembled */
	bool content_armed;             /* content_ev is pending */
	/* publisher confirms and transactions: their state is made by the
	 * select (confirm or tx set implies cx) */
	bool confirm;
	bool tx;
	enum amqp_content_state cstate; /* publish assembly */
	uint32_t prefetch;              /* basic.qos global=false, for new consumers */
	uint32_t ua_count;              /* unacked deliveries (below) */
	uint32_t tags_mask;             /* tags[] has tags_mask + 1 slots */

	/* publish assembly */
	struct amqp_cstr pub_exchange;
	struct amqp_cstr pub_rkey;
	struct bk_msg *pub_msg;         /* owned while its body arrives; its
					   body_len is the room so far */
	uint64_t pub_size;              /* body size the header announced */
	size_t pub_off;                 /* body bytes received so far */
	uint64_t pub_last_ms;           /* when the header or last body frame came */
	struct event *content_ev;       /* owned; the stalled-content timer */
	struct bk_route_memo route;     /* where the last publish went */

	struct amqp_ch_cx *cx;          /* owned; NULL until confirm/tx.select */

	/* consumers */
	struct amqp_consumer *consumers; /* uthash by tag, owned entries */
	struct bk_credit *credit;       /* owned; basic.qos global=true, shared;
					   made at the first consume or qos */
	struct amqp_ch_reply *reply;    /* owned; made by the first direct
					   reply-to consume */

	/* unacked deliveries, in delivery-tag order, linked through
	 * d->link_prev/link_next; each is also found by tag in tags[]
	 * (amqp_channel_ack.c: open addressing, sized by ua_count) */
	struct bk_delivery *ua_head, *ua_tail;
	uint64_t next_tag;              /* last delivery tag given out */
	struct bk_delivery **tags;      /* owned map; NULL when empty */

	/* management registry (amqp_channel_mgmt.c); NULL when the
	 * connection is not registered */
	struct bk_chan *mgmt;
	struct bk_chan_counters *ctr;   /* in mgmt; plain adds */
	/* write access to the exchange published to last, granted at
	 * access generation perm_gen (0 = nothing cached) */
	uint64_t perm_gen;
	struct amqp_cstr perm_exchange;

	/* deliveries dropped because AMQP 0-9-1 cannot carry them to this
	 * client (amqp_ch_wire_init), counted between two log lines */
	uint32_t skipped;
	bool perm_keyed;                /* a topic permission applies: check each key */
	uint64_t skip_logged_ms;

	/* a -ok kept until the durable change it confirms is on disk
	 * (amqp_channel_topology.c); the connection's input is held */
	struct amqp_defs_wait *defs_wait; /* owned; made at the first durable change */
	uint64_t defs_gen0;             /* bk_defs_generation() before the method */

	/* queue.declare's name, for the empty-name shortcut; p is NULL
	 * before the first declare */
	struct amqp_cstr last_queue;
};

/* ---- amqp_channel.c ------------------------------------------------- */

/*
 * Fail the method that is being handled. Channel-level codes (3xx/4xx):
 * channel.close(code, "NAME - text", class, method) and the channel gives
 * back its consumers and deliveries. Connection-level codes (5xx):
 * amqp_conn_close_or. Either way the caller returns right after.
 */
void amqp_channel_fail(struct amqp_channel *ch, uint16_t code, uint32_t method_id,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same for a core outcome: code from the status, text from err. */
void amqp_channel_fail_err(struct amqp_channel *ch, uint32_t method_id,
			   const struct bk_err *err);
/* Send a method that has no arguments. */
void amqp_channel_send_simple(struct amqp_channel *ch, uint32_t method_id);
/* Flush the decided confirms from a deferred callback (once per loop
 * iteration, however many were decided); its event is made on first use. */
void amqp_ch_confirm_later(struct amqp_channel *ch);
/* The confirm/tx state, made on first use (confirm.select, tx.select). */
struct amqp_ch_cx *amqp_ch_cx(struct amqp_channel *ch);
/* Cancel consumers, requeue unacked and tx-held deliveries, drop pending
 * publishes. Idempotent. */
void amqp_channel_release(struct amqp_channel *ch);

/* The direct reply-to pseudo consumer, or NULL. */
static inline struct bk_consumer *
amqp_ch_reply_bc(const struct amqp_channel *ch)
{
	return ch->reply ? ch->reply->bc : NULL;
}

static inline struct bk_str
amqp_sstr_get(const struct amqp_sstr *s)
{
	return (struct bk_str){ s->p, s->len };
}

/* Copy a shortstr (the codec guarantees <= 255 bytes). */
void amqp_sstr_set(struct amqp_sstr *dst, struct bk_str src);

static inline struct bk_str
amqp_cstr_get(const struct amqp_cstr *s)
{
	return (struct bk_str){ s->p ? s->p : "", s->len };
}

/* Copy a shortstr (at most 255 octets kept); allocates only to grow. */
void amqp_cstr_set(struct amqp_cstr *dst, struct bk_str src);
void amqp_cstr_fini(struct amqp_cstr *s);

/* ---- amqp_channel_mgmt.c -------------------------------------------- */

/* Register with / leave the broker's channel registry. */
void amqp_ch_mgmt_register(struct amqp_channel *ch);
void amqp_ch_mgmt_unregister(struct amqp_channel *ch);
/*
 * Permission checks (bk_access_check) with the channel failed on refusal
 * (403 ACCESS_REFUSED): true if allowed. kind is "queue" or "exchange".
 * Write access to the exchange of the last publish is cached until the
 * broker's access generation changes.
 */
bool amqp_ch_allowed(struct amqp_channel *ch, uint32_t method_id, enum bk_perm what,
		     const char *kind, struct bk_str name);
/* basic.publish: write on the exchange and topic permissions on the key. */
bool amqp_ch_publish_allowed(struct amqp_channel *ch, uint32_t method_id,
			     struct bk_str exchange, struct bk_str routing_key);
/* The connection's user, for declarations and bk_access_* calls. */
struct bk_who amqp_ch_who(const struct amqp_channel *ch);

/* ---- amqp_channel_topology.c ---------------------------------------- */

void amqp_ch_exchange_declare(struct amqp_channel *ch, const struct amqp_method *m);
void amqp_ch_exchange_delete(struct amqp_channel *ch, const struct amqp_method *m);
void amqp_ch_exchange_bind(struct amqp_channel *ch, const struct amqp_method *m);
void amqp_ch_queue_declare(struct amqp_channel *ch, const struct amqp_method *m);
void amqp_ch_queue_bind(struct amqp_channel *ch, const struct amqp_method *m);
void amqp_ch_queue_purge(struct amqp_channel *ch, const struct amqp_method *m);
void amqp_ch_queue_delete(struct amqp_channel *ch, const struct amqp_method *m);
/*
 * The "last declared queue" shortcut: an empty name means the queue this
 * channel declared last. false (and the channel failed with 404) if none.
 */
bool amqp_ch_queue_name(struct amqp_channel *ch, uint32_t method_id,
			struct bk_str *name);
/* Drop a -ok still waiting for the disk and release the input (free). */
void amqp_ch_topology_fini(struct amqp_channel *ch);

/* ---- amqp_channel_content.c ----------------------------------------- */

void amqp_ch_basic_publish(struct amqp_channel *ch, const struct amqp_method *m);
/* Drop a half-assembled publish. */
void amqp_ch_publish_reset(struct amqp_channel *ch);
/* The same, and free the stalled-content timer (channel free). */
void amqp_ch_publish_fini(struct amqp_channel *ch);

/* ---- amqp_channel_publish.c ----------------------------------------- */

/* Route one complete message (takes over the caller's reference). Sends
 * basic.return and confirms. false if the channel failed. */
bool amqp_ch_route(struct amqp_channel *ch, struct bk_msg *msg, bool mandatory);
/* Write out the coalesced basic.ack now (before other replies that must
 * not overtake it, e.g. channel.close-ok). */
void amqp_ch_confirm_flush(struct amqp_channel *ch);
/* tx.commit-ok now, or once the publishes before it are durable. */
void amqp_ch_commit_ok(struct amqp_channel *ch);
/* Free the tracker and the held decisions (channel free). */
void amqp_ch_durable_fini(struct amqp_channel *ch);

/* ---- amqp_channel_tx.c ---------------------------------------------- */

void amqp_ch_tx_select(struct amqp_channel *ch);
void amqp_ch_tx_commit(struct amqp_channel *ch);
void amqp_ch_tx_rollback(struct amqp_channel *ch);
void amqp_ch_confirm_select(struct amqp_channel *ch, const struct amqp_method *m);
/* Hold a publish until commit (takes the caller's reference). */
void amqp_ch_tx_add_publish(struct amqp_channel *ch, struct bk_msg *msg, bool mandatory);
/* Drop held publishes; requeue held acks (channel release). */
void amqp_ch_tx_discard(struct amqp_channel *ch);

/* ---- amqp_channel_consume.c ----------------------------------------- */

void amqp_ch_basic_qos(struct amqp_channel *ch, const struct amqp_method *m);
void amqp_ch_basic_consume(struct amqp_channel *ch, const struct amqp_method *m);
/* amqp_stream_args.c: basic.consume's x-stream-* arguments into o
 * (strings borrowed from args, filters into the caller's array). NULL,
 * or the name of the argument whose value is not acceptable. */
const char *amqp_stream_args_parse(struct bk_table args, struct bk_consume_stream *o,
				   struct bk_str *filters, uint32_t max_filters);
void amqp_ch_basic_cancel(struct amqp_channel *ch, const struct amqp_method *m);
/* Cancel every consumer (and the reply consumer) without telling the client. */
void amqp_ch_consumers_cancel_all(struct amqp_channel *ch);

/* ---- amqp_channel_wire.c -------------------------------------------- */

/* One message as a basic.deliver / get-ok / return carries it. */
struct amqp_wire {
	struct bk_str rk;               /* the method's routing-key: the
					   message's, or "" when that is over
					   255 octets (then in header
					   x-routing-key) */
	const struct bk_props *props;   /* borrowed: the message's, or &own */
	struct bk_props own;            /* the message's with headers rebuilt */
	struct bk_table_builder hb;     /* owned: own.headers */
};
/*
 * Prepare msg for this channel's client: a routing key or reply_to too
 * long for a short string goes in a header (see the file comment).
 * false: the content header does not fit one frame of the client's
 * frame_max; the caller drops the delivery (settles it as acked, so it
 * cannot come back to the same dead end); a warning was logged, at most
 * once a second per channel, and w needs no fini. true: w borrows from
 * msg until amqp_ch_wire_fini(w).
 */
bool amqp_ch_wire_init(struct amqp_channel *ch, const struct bk_msg *msg,
		       struct amqp_wire *w);
void amqp_ch_wire_fini(struct amqp_wire *w);

/* ---- amqp_channel_ack.c --------------------------------------------- */

/* Give d the next delivery tag; track it unless it is no-ack. */
uint64_t amqp_ch_unacked_add(struct amqp_channel *ch, struct bk_delivery *d);
/* Put a list of tagged deliveries (linked by link_next, any order) back
 * among the unacked ones in tag order (tx.rollback). */
void amqp_ch_unacked_restore_list(struct amqp_channel *ch, struct bk_delivery *head);
/* Requeue every unacked delivery, in tag order. */
void amqp_ch_unacked_requeue_all(struct amqp_channel *ch);
void amqp_ch_unacked_fini(struct amqp_channel *ch);
void amqp_ch_basic_ack(struct amqp_channel *ch, const struct amqp_method *m);
void amqp_ch_basic_reject(struct amqp_channel *ch, const struct amqp_method *m);
void amqp_ch_basic_nack(struct amqp_channel *ch, const struct amqp_method *m);
void amqp_ch_basic_recover(struct amqp_channel *ch, const struct amqp_method *m);
void amqp_ch_basic_get(struct amqp_channel *ch, const struct amqp_method *m);
/* Settle a list detached from the channel (linked by link_next). */
/* Settle a list linked by link_next, requeues merged in one batch. */
void amqp_ch_settle_list(struct amqp_channel *ch, struct bk_delivery *head,
			 enum bk_settle how);

#endif
