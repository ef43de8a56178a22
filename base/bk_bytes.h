/*
 * Big-endian loads and stores for wire and disk formats (AMQP, MQTT and
 * the journal are all network byte order). Callers check bounds first.
 */
#ifndef BK_BYTES_H
#define BK_BYTES_H

#include <stdint.h>

static inline uint16_t
bk_ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
bk_ld32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
bk_ld64(const uint8_t *p)
{
	return (uint64_t)bk_ld32(p) << 32 | bk_ld32(p + 4);
}

/* Stores return the position after what they wrote. */
static inline uint8_t *
bk_st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static inline uint8_t *
bk_st32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static inline uint8_t *
bk_st64(uint8_t *p, uint64_t v)
{
	return bk_st32(bk_st32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

#endif
