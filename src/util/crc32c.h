/*
 * crc32c.h - CRC32C (Castagnoli), the checksum of every on-disk and
 * shared-memory structure. Uses the SSE4.2 crc32 instruction when the CPU has
 * it and a table-driven software version otherwise; both give identical
 * results. Thread-safe, no state.
 */
#ifndef ANK_CRC32C_H
#define ANK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC32C over buf[0..len). Start with crc = 0. The usual pre/post
 * inversion is applied inside, so crc32c(crc32c(0,a),b) == crc32c(0,a||b). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* Software-only version (for tests comparing both paths). */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
