/*
 * crc32c.h - CRC32C (Castagnoli), the checksum of every on-disk and
 * shared-memory structure. Uses the SSE4.2 crc32 instruction, three
 * streams at a time, when the CPU has it and a table-driven software
 * version otherwise; both give identical results. Thread-safe; its tables
 * are built once, at first use, and are read-only from then on.
 */
#ifndef ANK_CRC32C_H
#define ANK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC32C over buf[0..len). Start with crc = 0. The usual pre/post
 * inversion is applied inside, so crc32c(crc32c(0,a),b) == crc32c(0,a||b). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* crc32c(0, A || B), given a = crc32c(0, A), b = crc32c(0, B) and B's
 * length (a few table lookups when len_b is 4096, a GF(2) product
 * otherwise). */
uint32_t crc32c_combine(uint32_t a, uint32_t b, uint64_t len_b);

/* crc32c(crc, n zero bytes), without reading any: a few table lookups
 * when n is 4096, a GF(2) product otherwise. */
uint32_t crc32c_zeros(uint32_t crc, uint64_t n);

/* Where the tables are (for tests: a write there must fault). */
const void *crc32c_tables(void);

/* Software-only version (for tests comparing both paths). */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
