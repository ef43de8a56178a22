/*
 * net.h: the transport layer. Every protocol (AMQP 0-9-1, MQTT, HTTP)
 * sits on it; it knows bytes and connections, never a protocol's meaning.
 *
 * What it owns, once for every protocol:
 *  - listeners: a list of bind addresses per listener (127.0.0.1 and ::1
 *    by default, so "localhost" works whichever family a client resolves
 *    first), accept, connection limits per listener and broker-wide;
 *  - the transports: plain TCP, TLS (OpenSSL through libevent's
 *    bufferevent_openssl) and WebSockets (RFC 6455 framing by libwslay,
 *    the HTTP upgrade done here) over either; a protocol reads and writes
 *    the same byte stream whichever it is;
 *  - a connection's life: a handshake deadline that traffic does not
 *    extend, deferred frees (never inline from a callback), flushing
 *    before a close, graceful shutdown of every connection;
 *  - back-pressure: a connection whose output is over its high
 *    watermark is not read from, whatever the protocol;
 *  - what management shows of a connection: peer, TLS state, bytes.
 *
 * A protocol plugs in with struct net_proto_ops. Callbacks run on the
 * loop's thread; a protocol may call the core from them, and the core may
 * call back into the protocol (consumer deliver) at any time, which only
 * appends output. Frees are always deferred to the connection's reaper
 * event: after net_conn_close() nothing of the connection is freed until
 * the current callback chain has returned.
 *
 *   accept --> [TLS handshake] --> [WebSocket upgrade] --> ops->open()
 *      \___________ handshake deadline (net_conn_ready() ends it) ______/
 *   ops->read() ... ops->writable() ... net_conn_close*() --> reaper:
 *   ops->free() --> socket closed
 */
#ifndef SLUICE_NET_H
#define SLUICE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdarg.h>

#include <event2/buffer.h>

#include "bk_log.h"

struct event_base;
struct bk_broker;
struct bk_conn_info;
struct bk_conn_state;
struct net;
struct net_conn;
struct net_listener;
struct net_tls;

/* Call once, before any other libevent or OpenSSL call of the process:
 * their allocations then go through bk_malloc, so socket buffers and TLS
 * state count toward the broker's memory alarm. */
void net_global_init(void);

/* ------------------------------------------------------------------ */
/* TLS contexts (net_tls.c)                                            */
/* ------------------------------------------------------------------ */

enum net_verify { NET_VERIFY_NONE, NET_VERIFY_PEER };

struct net_tls_config {
	const char *cert_file;          /* PEM chain, required */
	const char *key_file;           /* PEM private key, required */
	const char *ca_file;            /* PEM CAs that sign client certificates */
	enum net_verify verify;
	bool fail_if_no_peer_cert;      /* with verify = peer */
	int min_version;                /* 12 or 13: TLS 1.2 or 1.3 */
	const char *ciphers;            /* TLS <= 1.2 list, NULL = OpenSSL's */
	const char *ciphersuites;       /* TLS 1.3 list, NULL = OpenSSL's */
};

/*
 * A server context from cfg (strings copied). NULL with "FILE: reason"
 * (OpenSSL's reason) in err when a file cannot be read, the key does not
 * match the certificate, or a cipher list is refused.
 */
struct net_tls *net_tls_new(const struct net_tls_config *cfg, char *err, size_t errlen);
/*
 * Read the files again (SIGHUP) for connections accepted from now on;
 * existing connections keep the context they started with. On failure
 * the old context stays, and err says why: 0 or -EINVAL.
 */
int net_tls_reload(struct net_tls *t, char *err, size_t errlen);
/* Seconds until the earliest notAfter of the served chain (negative when
 * expired); for health checks. */
int64_t net_tls_expires_in(const struct net_tls *t);
/* The files t serves from: the certificate chain, and the CAs that sign
 * client certificates (NULL when none); for health checks. Borrowed. */
void net_tls_files(const struct net_tls *t, const char **cert_file, const char **ca_file);
void net_tls_free(struct net_tls *t);   /* accepts NULL */

/* ------------------------------------------------------------------ */
/* Protocols                                                           */
/* ------------------------------------------------------------------ */

/* Why a connection ended, for ops->free() and logs. */
enum net_end {
	NET_END_LOCAL,                  /* the protocol closed it */
	NET_END_PEER,                   /* EOF from the peer */
	NET_END_ERROR,                  /* socket or TLS error */
	NET_END_DEADLINE,               /* handshake deadline or linger ran out */
	NET_END_SHUTDOWN,               /* broker stopping, connection freed with the rest */
};

#define NET_PROTO_OPS_V1 1

struct net_proto_ops {
	uint32_t version;               /* NET_PROTO_OPS_V1 */
	/* Transport is up (TLS handshake and WebSocket upgrade done):
	 * create the protocol's state and return it; NULL refuses (the
	 * connection is closed). May write a greeting. */
	void *(*open)(void *arg, struct net_conn *nc);
	/* Bytes wait in net_conn_input(nc). Consume what forms whole units;
	 * leave the rest. */
	void (*read)(void *ctx);
	/* The output drained to half the high watermark (may be NULL):
	 * wake parked consumers. */
	void (*writable)(void *ctx);
	/* The broker is stopping: say goodbye the protocol's way and close
	 * (net_conn_close_after_flush / net_conn_close_in). */
	void (*shutdown)(void *ctx);
	/* Deferred work asked for with net_conn_defer() (may be NULL): runs
	 * from the reaper event, outside every other callback. */
	void (*deferred)(void *ctx);
	/* Last call for ctx: the connection is being freed. Release every
	 * core object; nothing may be written any more. */
	void (*free)(void *ctx, enum net_end why);
	/* Name for log lines ("amqp", "mqtt", "http"). */
	const char *name;
	/* Every NET_TICK_MS while the connection is open (may be NULL):
	 * periodic work such as heartbeats, from one event of the transport
	 * that walks every connection, so a connection needs no timer of its
	 * own for it. Frees are deferred as from any callback. */
	void (*tick)(void *ctx);
};

/* The period of ops->tick. */
#define NET_TICK_MS 500

/* ------------------------------------------------------------------ */
/* The transport set and its listeners (net_listener.c)                */
/* ------------------------------------------------------------------ */

struct net_config {
	uint32_t max_connections;       /* broker-wide, 0 = no limit */
	uint32_t max_handshakes;        /* connections between accept and
					 * net_conn_ready() (or the protocol's first
					 * net_conn_deadline()) at once, 0 = no limit */
	uint32_t io_spin_us;            /* I/O threads: how long a thread that handed
					 * the core a small input waits awake for the
					 * answer (0: it sleeps at once) */
};

struct net *net_new(struct event_base *base, struct bk_broker *broker,
		    const struct net_config *cfg);

/*
 * Move socket work to `threads` I/O threads (0 keeps everything on the
 * core's loop): each owns a share of the connections (reading, writing,
 * TLS, WebSocket framing) and trades batches with the core through
 * rings. Call before the first listener. 0, or -errno with err. The
 * core's loop is net_loop_once(), repeated.
 */
int net_start_io(struct net *n, unsigned threads, char *err, size_t errlen);
/*
 * One iteration of the core's loop on base: wait for events (not at all
 * when the I/O threads left messages waiting), run them, take in what the
 * I/O threads sent, and ship this iteration's output (net_flush). n may
 * be NULL (a cluster follower has no transport yet) or have no I/O
 * threads: then it is event_base_loop(base, EVLOOP_ONCE). 0, or -1 if
 * the loop failed.
 */
int net_loop_once(struct net *n, struct event_base *base);
/* Ship this iteration's output to the I/O threads (no-op without them,
 * or when n is NULL: a cluster follower has no transport yet). */
void net_flush(struct net *n);

enum net_transport { NET_TCP, NET_TLS, NET_WS, NET_WSS };

struct net_listen_config {
	const char *name;               /* log and /api/overview name: "amqp",
					   "amqps", "mqtt", "mqtts", "ws", "wss",
					   "http", "https", "prometheus" */
	const char *protocol;           /* RabbitMQ's listener protocol: "amqp",
					   "amqp/ssl", "mqtt", "mqtt/ssl",
					   "http/web-mqtt", "https/web-mqtt",
					   "http", "https", "http/prometheus" */
	const char *bind;               /* "127.0.0.1, ::1"; "0.0.0.0, ::" for all */
	int port;                       /* 0 picks a free one (the same on every address) */
	enum net_transport transport;
	struct net_tls *tls;            /* borrowed; TLS and WSS */
	const char *ws_path;            /* WS, WSS: "/ws" */
	const char *ws_protocol;        /* WS, WSS: "mqtt" (Sec-WebSocket-Protocol) */
	uint32_t max_connections;       /* this listener, 0 = only the broker-wide one */
	uint32_t handshake_ms;          /* accept to net_conn_ready(); 0 = none */
	size_t output_high;             /* stop reading above this much output */
	const struct net_proto_ops *ops;
	void *arg;                      /* ops->open's first argument */
};

/*
 * Bind every address of cfg->bind (strings copied) and start accepting.
 * Logs "listening NAME HOST:PORT" per address (tests read those lines).
 * An address the machine does not have (EADDRNOTAVAIL, EAFNOSUPPORT: no
 * IPv6) is skipped with a warning while another one binds; any other
 * failure is an error. NULL with the reason in err.
 */
struct net_listener *net_listen(struct net *n, const struct net_listen_config *cfg,
				char *err, size_t errlen);
/*
 * net_listen, but with the listening sockets of from's listener of the
 * same name (from may be NULL): when that one is bound to the same
 * bind list and port (any port when cfg->port is 0) on the same event
 * base, its sockets, and the connections waiting in their backlogs, move
 * to the new listener, whose cfg (ops, transport, TLS, limits) applies
 * to every connection it accepts from now on; from's listener keeps
 * none, and its accepted connections stay in from until net_free(from).
 * Otherwise the sockets are bound as net_listen does. The port is never
 * unbound in between, so no other process can take it and no waiting
 * client is reset. "listening" lines end with "(socket handed over)".
 */
struct net_listener *net_listen_take(struct net *n, const struct net_listen_config *cfg,
				     struct net *from, char *err, size_t errlen);
/* The port bound (the same on every address). */
int net_listener_port(const struct net_listener *l);

/* Every listener, in the order they were made (for /api/overview). */
struct net_listener_view {
	const char *name, *protocol, *bind;
	int port;
	bool tls;
	struct net_tls *ctx;
	uint32_t connections;
};
typedef int (*net_listener_each_fn)(void *arg, const struct net_listener_view *v);
int net_listeners_each(struct net *n, net_listener_each_fn fn, void *arg);

/*
 * Stop accepting on every listener, call ops->shutdown on every
 * connection, and call done(arg) from a deferred event once every
 * connection is gone. Connections still open after linger_ms are freed.
 */
void net_shutdown(struct net *n, uint32_t linger_ms, void (*done)(void *arg), void *arg);
/* Free every connection (ops->free with NET_END_SHUTDOWN) and listener. */
void net_free(struct net *n);     /* accepts NULL */

/* ------------------------------------------------------------------ */
/* Connections (net_conn.c)                                            */
/* ------------------------------------------------------------------ */

/*
 * The cleanup to give evbuffer_add_reference() for a message body (arg:
 * the struct bk_msg, one reference per chunk added). With I/O threads the
 * chunk is written, and released, on an I/O thread: the reference goes
 * back to the core in a batch, so message reference counts only change on
 * the core. Call bk_msg_unref yourself when evbuffer_add_reference fails.
 */
void net_body_unref(const void *data, size_t len, void *msg);

/* Borrowed buffers: what arrived (decrypted, unframed) and what to send. */
struct evbuffer *net_conn_input(struct net_conn *nc);
struct evbuffer *net_conn_output(struct net_conn *nc);
/* Bytes waiting in the output; over the high watermark? */
size_t net_conn_output_len(struct net_conn *nc);
bool net_conn_output_full(struct net_conn *nc);

/* The handshake is complete (login done): the deadline stops. */
void net_conn_ready(struct net_conn *nc);
/* (Re)arm the deadline: the connection is freed ms from now unless
 * net_conn_ready() comes first (HTTP arms it per request). */
void net_conn_deadline(struct net_conn *nc, uint32_t ms);

/* Reading pauses while any reason is set (the output watermark is the
 * transport's own reason). */
enum { NET_PAUSE_FLOW = 1u << 0, NET_PAUSE_PROTO = 1u << 1 };
void net_conn_pause(struct net_conn *nc, unsigned why, bool on);

/* Free from the reaper event, soon. Idempotent. */
void net_conn_close(struct net_conn *nc);
/* Stop reading; free once the output is written (or after ms). */
void net_conn_close_after_flush(struct net_conn *nc, uint32_t ms);
/* Free ms from now whatever happens (a close that waits for close-ok). */
void net_conn_close_in(struct net_conn *nc, uint32_t ms);
bool net_conn_closing(const struct net_conn *nc);
/* Run ops->deferred from the reaper event. */
void net_conn_defer(struct net_conn *nc);

/* A log line "conn=ID peer=HOST:PORT proto=NAME: ..." (NAME is the
 * listener's: amqp, amqps, mqtt, ws, ...). */
void net_conn_logv(const struct net_conn *nc, enum bk_log_level lvl, const char *fmt,
		   va_list ap);

/* "HOST:PORT" of the peer for log lines; did it come from this machine? */
const char *net_conn_peer(const struct net_conn *nc);
bool net_conn_peer_is_loopback(const struct net_conn *nc);
uint64_t net_conn_id(const struct net_conn *nc);
/* Fill the transport half of a registry entry (peer and local address,
 * ports, ssl); strings stay valid while the connection lives. */
void net_conn_fill_info(struct net_conn *nc, struct bk_conn_info *info);
/* Fill the transport half of a snapshot: bytes on the wire, bytes
 * pending, TLS protocol, cipher and peer certificate. */
void net_conn_describe(struct net_conn *nc, struct bk_conn_state *st);

/* TLS: is it, and the verified peer certificate's CN (want_dn false) or
 * full RFC 4514 DN into buf. 0, or -ENOENT without a verified peer
 * certificate (-ENAMETOOLONG if it does not fit). */
bool net_conn_is_tls(const struct net_conn *nc);
int net_conn_peer_identity(struct net_conn *nc, bool want_dn, char *buf, size_t cap);

/* The event base (protocols arm their own timers on it). */
struct event_base *net_conn_base(const struct net_conn *nc);

#endif
