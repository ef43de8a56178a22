/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * every journal record. Two implementations of the same function:
 * the SSE4.2 crc32 instruction, 8 bytes per step, when the CPU has it
 * (checked once with __builtin_cpu_supports), and slicing-by-8 tables
 * otherwise. st_crc32c(0, p, n) is the standard CRC-32C of p; passing a
 * previous result as crc continues it over more bytes.
 *
 * Thread-safe: the tables are built once under pthread_once, and the
 * choice of implementation is made at the same time.
 */
#include <pthread.h>
#include <string.h>

#include "jnl_int.h"

#define POLY 0x82F63B78u

static uint32_t table[8][256];
static int use_hw;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (POLY & (0u - (c & 1)));
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	__builtin_cpu_init();
	use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t
sw(uint32_t c, const uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint32_t lo = ld32(p) ^ c, hi = ld32(p + 4);

		c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		    table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
		    table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
		    table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
	return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2")))
static uint32_t
hw(uint32_t c, const uint8_t *p, size_t n)
{
	uint64_t c64 = c;

	while (n >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
		p += 8;
		n -= 8;
	}
	c = (uint32_t)c64;
	while (n--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#endif

uint32_t
st_crc32c(uint32_t crc, const void *buf, size_t n)
{
	uint32_t c = ~crc;

	pthread_once(&once, init);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	if (use_hw)
		return ~hw(c, buf, n);
#endif
	return ~sw(c, buf, n);
}

/* For the unit test: the table path whatever the CPU has. */
uint32_t st_crc32c_sw(uint32_t crc, const void *buf, size_t n);

uint32_t
st_crc32c_sw(uint32_t crc, const void *buf, size_t n)
{
	pthread_once(&once, init);
	return ~sw(~crc, buf, n);
}
