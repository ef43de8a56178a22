/* Small helpers shared by the libmosquitto test programs.
 *
 * Every program takes "host port topic-prefix [username password]", drives
 * libmosquitto synchronously (mosquitto_loop until a condition or a
 * deadline), prints one line per checked step and "OK <name>" at the end,
 * and exits 1 with a "FAIL file:line: ..." line on the first failed check.
 */
#ifndef MQTTC_UTIL_H
#define MQTTC_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__,      \
			    __LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                      \
			fputc('\n', stderr);                               \
			exit(1);                                           \
		}                                                          \
	} while (0)

struct mqttc_args {
	const char *host;
	int port;
	const char *prefix;
	const char *user;
	const char *pass;
};

static inline struct mqttc_args
mqttc_parse(int argc, char **argv)
{
	struct mqttc_args a;

	if (argc < 4) {
		fprintf(stderr, "usage: %s host port topic-prefix [user pass]\n", argv[0]);
		exit(2);
	}
	a.host = argv[1];
	a.port = atoi(argv[2]);
	a.prefix = argv[3];
	a.user = argc > 5 ? argv[4] : NULL;
	a.pass = argc > 5 ? argv[5] : NULL;
	return a;
}

static inline double
mqttc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run the client's loop until *flag becomes true or seconds pass. */
static inline bool
mqttc_pump(struct mosquitto *m, volatile int *flag, int want, double seconds)
{
	double end = mqttc_now() + seconds;

	while (*flag < want && mqttc_now() < end) {
		int rc = mosquitto_loop(m, 50, 1);

		if (rc != MOSQ_ERR_SUCCESS)
			return *flag >= want;
	}
	return *flag >= want;
}

/* Pump two clients together. */
static inline bool
mqttc_pump2(struct mosquitto *a, struct mosquitto *b, volatile int *flag, int want,
    double seconds)
{
	double end = mqttc_now() + seconds;

	while (*flag < want && mqttc_now() < end) {
		mosquitto_loop(a, 20, 1);
		mosquitto_loop(b, 20, 1);
	}
	return *flag >= want;
}

#endif
