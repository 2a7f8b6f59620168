/*
 * guard.c - fail fast on memory corruption of cached file system state.
 *
 * A cached block (metadata buffer, data page, committed checkpoint image)
 * carries a CRC32C taken at its last legitimate change (sealed). Whoever
 * uses it again first checks it: a mismatch means a stray write (a bug, a
 * bit flip) changed it behind the file system's back. Nothing that reached
 * the cache that way may reach an application or the disk, so the process
 * stops at once; the service's recovery rebuilds the state from the disk,
 * the journal and the p-log, none of which trusts this memory.
 *
 * Where the seals are taken and checked (the invariant is in
 * docs/RECOVERY.md, "Corruption of cached state"):
 *   buffers      sealed when the last user puts them (buf_put), checked
 *                when a user takes an unused one (buf_get) and before a
 *                commit copies it into the journal; the pinned bitmap
 *                blocks around each bit change (alloc.c);
 *   data pages   sealed after a read from disk, a write into them and a
 *                truncation that zeroes a tail; checked before they are
 *                read from, written into, and committed;
 *   checkpoint   sealed when a commit keeps a copy for the checkpoint,
 *   images       checked before it is written home or read back.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../util/crc32c.h"
#include "fs_internal.h"

uint32_t guard_sum(const void *data)
{
	return crc32c(0x414E4B47u, data, ANK_BLOCK_SIZE);
}

void guard_fail(const char *what, uint64_t a, uint64_t b)
{
	fprintf(stderr,
		"ananke: cached %s %llu/%llu fails its checksum: memory corruption; stopping "
		"at once so that nothing it changed is used (recovery rebuilds it)\n",
		what, (unsigned long long)a, (unsigned long long)b);
	abort();
}
