/*
 * plog_crc.c - the checksum of a p-log record: CRC32C seeded with the
 * region's salt, the record's crc field (bytes 4..7) counted as zero.
 */
#include "plog_internal.h"

#include "../util/crc32c.h"

uint32_t plog_csum(uint32_t seed, const void *rec, size_t len)
{
	static const uint8_t zero4[4];
	const uint8_t *p = rec;
	uint32_t c = crc32c(seed, p, 4);
	c = crc32c(c, zero4, 4);
	return crc32c(c, p + 8, len - 8);
}
