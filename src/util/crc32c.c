/*
 * crc32c.c - CRC32C, with a hardware path (SSE4.2) chosen once at first use
 * and a portable table-driven path; both give identical results.
 *
 * The crc32 instruction has a latency of about three cycles and a
 * throughput of one, so a single dependent chain runs at a third of the
 * unit's speed. The hardware path therefore sums three adjacent blocks in
 * parallel and joins them with "n zero bytes" tables: the register update
 * is linear over GF(2), so reg(A || B) = zeros_|B|(reg(A)) ^ reg_from_0(B).
 * The same linearity gives crc32c_combine.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define POLY 0x82F63B78u   /* reflected Castagnoli polynomial */
#define CRC_LONG 1024u     /* bytes per stream in a long round */
#define CRC_SHORT 128u     /* bytes per stream in a short round */
#define CRC_PAGE 4096u     /* crc32c_combine's fast length */

/*
 * The tables, built once and then made read-only: every checksum of the
 * process reads them, so a stray write into one (a bit flip in memory)
 * would make the process compute wrong sums from then on without ever
 * failing a check of its own: a reader told "damaged" about every good
 * answer, or seals that never match. Read-only, such a write faults and
 * stops the process instead. They fill pages of their own (aligned and
 * padded to 64 KiB, any page size up to that), so that nothing else
 * shares a page that is protected.
 */
#define TABLES_SPAN 65536u
struct crc_tables {
	uint32_t byte_table[256];
	uint32_t long_shift[4][256], short_shift[4][256], page_shift[4][256];
	uint32_t x2n[32]; /* x^(2^k) mod POLY, reflected */
	int have_hw;
};
static union {
	struct crc_tables t;
	uint8_t span[TABLES_SPAN];
} tables __attribute__((aligned(TABLES_SPAN)));
_Static_assert(sizeof(struct crc_tables) <= TABLES_SPAN, "crc tables fit their span");
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* The raw register after `n` zero bytes (no pre/post inversion). */
static uint32_t zeros(uint32_t r, size_t n)
{
	while (n--)
		r = (r >> 8) ^ tables.t.byte_table[r & 0xff];
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

/* a * b mod POLY, both reflected (bit 31 is x^0). */
static uint32_t gf_mul(uint32_t a, uint32_t b)
{
	uint32_t p = 0;
	for (uint32_t m = 1u << 31; m; m >>= 1) {
		if (a & m)
			p ^= b;
		b = (b & 1) ? (b >> 1) ^ POLY : b >> 1;
	}
	return p;
}

static void tables_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
		tables.t.byte_table[i] = c;
	}
	build_shift(tables.t.long_shift, CRC_LONG);
	build_shift(tables.t.short_shift, CRC_SHORT);
	build_shift(tables.t.page_shift, CRC_PAGE);
	tables.t.x2n[0] = 1u << 30; /* x^1 */
	for (unsigned k = 1; k < 32; k++)
		tables.t.x2n[k] = gf_mul(tables.t.x2n[k - 1], tables.t.x2n[k - 1]);
#if defined(__x86_64__)
	__builtin_cpu_init();
	tables.t.have_hw = __builtin_cpu_supports("sse4.2");
#endif
	/* (when it fails, e.g. a page size over 64 KiB, the tables stay
	 * writable and correct: only the protection is lost) */
	long page = sysconf(_SC_PAGESIZE);
	if (page > 0 && TABLES_SPAN % (unsigned long)page == 0)
		(void)mprotect(&tables, TABLES_SPAN, PROT_READ);
}

static inline uint32_t shift(const uint32_t t[4][256], uint32_t r)
{
	return t[0][r & 0xff] ^ t[1][(r >> 8) & 0xff] ^ t[2][(r >> 16) & 0xff] ^ t[3][r >> 24];
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	pthread_once(&tables_once, tables_init);
	crc = ~crc;
	while (len--)
		crc = tables.t.byte_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* One round: three adjacent blocks of `blk` bytes at p summed in parallel
 * and joined (t: the tables of zeros_blk). Inlined with a constant blk. */
__attribute__((target("sse4.2"), always_inline)) static inline uint64_t
round3(uint64_t c0, const uint8_t *p, size_t blk, const uint32_t t[4][256])
{
	uint64_t c1 = 0, c2 = 0;
	for (const uint8_t *end = p + blk; p < end; p += 8) {
		c0 = __builtin_ia32_crc32di(c0, load64(p));
		c1 = __builtin_ia32_crc32di(c1, load64(p + blk));
		c2 = __builtin_ia32_crc32di(c2, load64(p + 2 * blk));
	}
	c0 = shift(t, (uint32_t)c0) ^ (uint32_t)c1;
	return shift(t, (uint32_t)c0) ^ (uint32_t)c2;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw3(uint32_t crc, const uint8_t *p,
							   size_t len)
{
	uint64_t c0 = (uint32_t)~crc;

	while (len && ((uintptr_t)p & 7)) {
		c0 = __builtin_ia32_crc32qi((uint32_t)c0, *p++);
		len--;
	}
	for (; len >= 3 * CRC_LONG; p += 3 * CRC_LONG, len -= 3 * CRC_LONG)
		c0 = round3(c0, p, CRC_LONG, tables.t.long_shift);
	for (; len >= 3 * CRC_SHORT; p += 3 * CRC_SHORT, len -= 3 * CRC_SHORT)
		c0 = round3(c0, p, CRC_SHORT, tables.t.short_shift);
	for (; len >= 8; p += 8, len -= 8)
		c0 = __builtin_ia32_crc32di(c0, load64(p));
	while (len--)
		c0 = __builtin_ia32_crc32qi((uint32_t)c0, *p++);
	return ~(uint32_t)c0;
}
#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&tables_once, tables_init);
#if defined(__x86_64__)
	if (tables.t.have_hw)
		return crc_hw3(crc, buf, len);
#endif
	return crc32c_sw(crc, buf, len);
}

const void *crc32c_tables(void)
{
	pthread_once(&tables_once, tables_init);
	return &tables;
}

uint32_t crc32c_zeros(uint32_t crc, uint64_t n)
{
	pthread_once(&tables_once, tables_init);
	if (n == CRC_PAGE)
		return ~shift(tables.t.page_shift, ~crc);
	uint32_t op = 1u << 31; /* x^0 */
	for (unsigned k = 3; n; n >>= 1, k++)
		if (n & 1)
			op = gf_mul(tables.t.x2n[k & 31], op);
	return ~gf_mul(op, ~crc);
}

/* crc(A || B) = zeros_|B|(crc(A)) ^ crc(B): the inversions of the two
 * sides cancel because zeros_n is linear. zeros_n is multiplication by
 * x^(8n), taken from x^(2^k) by the bits of 8n. */
uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
	pthread_once(&tables_once, tables_init);
	if (len_b == CRC_PAGE)
		return shift(tables.t.page_shift, crc_a) ^ crc_b;
	uint32_t op = 1u << 31; /* x^0 */
	for (unsigned k = 3; len_b; len_b >>= 1, k++)
		if (len_b & 1)
			op = gf_mul(tables.t.x2n[k & 31], op);
	return gf_mul(op, crc_a) ^ crc_b;
}
