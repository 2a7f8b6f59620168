/*
 * plog_crc.c - CRC32C for the p-log's append path, three streams at a time.
 * The crc32 instruction has a latency of about three cycles and a
 * throughput of one, so a single dependent chain (src/util/crc32c.c) runs at
 * a third of the unit's speed; here three blocks are summed in parallel and
 * joined by "shift over n zero bytes" tables (the register update is linear:
 * crc(A || B) = zeros_|B|(crc(A)) ^ crc_from_0(B)). Results are bit for bit
 * those of crc32c(). Without SSE4.2 it calls the portable version. It does
 * not replace crc32c() elsewhere in the project.
 */
#include "plog_internal.h"

#include <pthread.h>
#include <string.h>

#include "../util/crc32c.h"

#define PLOG_CRC_LONG 1024u /* bytes per stream in a long round */
#define PLOG_CRC_SHORT 128u /* bytes per stream in a short round */

static uint32_t byte_table[256];
static uint32_t long_shift[4][256], short_shift[4][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
static int have_hw;

/* The raw register after `n` zero bytes (no pre/post inversion). */
static uint32_t zeros(uint32_t r, size_t n)
{
	while (n--)
		r = (r >> 8) ^ byte_table[r & 0xff];
	return r;
}

/* t[k][v] = zeros(v << 8k, n), built from the 32 single-bit images since
 * the map is linear over GF(2). */
static void build_shift(uint32_t t[4][256], size_t n)
{
	uint32_t bit[32];
	for (unsigned b = 0; b < 32; b++)
		bit[b] = zeros(1u << b, n);
	for (unsigned k = 0; k < 4; k++)
		for (unsigned v = 0; v < 256; v++) {
			uint32_t x = 0;
			for (unsigned b = 0; b < 8; b++)
				if (v & (1u << b))
					x ^= bit[8 * k + b];
			t[k][v] = x;
		}
}

static void tables_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		byte_table[i] = c;
	}
	build_shift(long_shift, PLOG_CRC_LONG);
	build_shift(short_shift, PLOG_CRC_SHORT);
#if defined(__x86_64__)
	__builtin_cpu_init();
	have_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static inline uint32_t shift(const uint32_t t[4][256], uint32_t r)
{
	return t[0][r & 0xff] ^ t[1][(r >> 8) & 0xff] ^ t[2][(r >> 16) & 0xff] ^ t[3][r >> 24];
}

#if defined(__x86_64__)
static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw3(uint32_t crc, const uint8_t *p,
							   size_t len)
{
	uint64_t c0 = (uint32_t)~crc;

	while (len && ((uintptr_t)p & 7)) {
		c0 = __builtin_ia32_crc32qi((uint32_t)c0, *p++);
		len--;
	}
	while (len >= 3 * PLOG_CRC_LONG) {
		uint64_t c1 = 0, c2 = 0;
		for (const uint8_t *end = p + PLOG_CRC_LONG; p < end; p += 8) {
			c0 = __builtin_ia32_crc32di(c0, load64(p));
			c1 = __builtin_ia32_crc32di(c1, load64(p + PLOG_CRC_LONG));
			c2 = __builtin_ia32_crc32di(c2, load64(p + 2 * PLOG_CRC_LONG));
		}
		c0 = shift(long_shift, (uint32_t)c0) ^ (uint32_t)c1;
		c0 = shift(long_shift, (uint32_t)c0) ^ (uint32_t)c2;
		p += 2 * PLOG_CRC_LONG;
		len -= 3 * PLOG_CRC_LONG;
	}
	while (len >= 3 * PLOG_CRC_SHORT) {
		uint64_t c1 = 0, c2 = 0;
		for (const uint8_t *end = p + PLOG_CRC_SHORT; p < end; p += 8) {
			c0 = __builtin_ia32_crc32di(c0, load64(p));
			c1 = __builtin_ia32_crc32di(c1, load64(p + PLOG_CRC_SHORT));
			c2 = __builtin_ia32_crc32di(c2, load64(p + 2 * PLOG_CRC_SHORT));
		}
		c0 = shift(short_shift, (uint32_t)c0) ^ (uint32_t)c1;
		c0 = shift(short_shift, (uint32_t)c0) ^ (uint32_t)c2;
		p += 2 * PLOG_CRC_SHORT;
		len -= 3 * PLOG_CRC_SHORT;
	}
	for (; len >= 8; p += 8, len -= 8)
		c0 = __builtin_ia32_crc32di(c0, load64(p));
	while (len--)
		c0 = __builtin_ia32_crc32qi((uint32_t)c0, *p++);
	return ~(uint32_t)c0;
}

/* The raw register after the 4 bytes of `low` and 4 zero bytes, one step. */
__attribute__((target("sse4.2"))) static inline uint32_t crc_first8(uint32_t raw, uint32_t low)
{
	return (uint32_t)__builtin_ia32_crc32di(raw, (uint64_t)low);
}
#endif

uint32_t plog_csum(uint32_t seed, const void *rec, size_t len)
{
	static const uint8_t zero4[4];
	const uint8_t *p = rec;

	pthread_once(&tables_once, tables_init);
#if defined(__x86_64__)
	if (have_hw) {
		/* bytes 0..7 with the crc field (4..7) as zero, in one step */
		uint32_t magic;
		memcpy(&magic, p, 4);
		uint32_t c = crc_first8(~seed, magic);
		return crc_hw3(~c, p + 8, len - 8);
	}
#endif
	uint32_t c = crc32c_sw(seed, p, 4);
	c = crc32c_sw(c, zero4, 4);
	return crc32c_sw(c, p + 8, len - 8);
}

uint32_t plog_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&tables_once, tables_init);
#if defined(__x86_64__)
	if (have_hw)
		return crc_hw3(crc, buf, len);
#endif
	return crc32c_sw(crc, buf, len);
}
