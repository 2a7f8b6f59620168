/*
 * plog_protect.c - write protection of p-log mappings with Linux memory
 * protection keys: the mapping is tagged with one key whose default rights,
 * per thread, are read-only; the writer functions lift the write ban in the
 * thread's PKRU register for their duration (plog_internal.h). A stray store
 * anywhere else faults at once. Without PKU on the CPU (or no free key), the
 * log stays writable and plog_protection_mode() says so. It never changes
 * page protections per append (mprotect would cost a system call and a TLB
 * shootdown each time).
 */
#include "plog_internal.h"

#include <errno.h>
#include <pthread.h>

int plog_pkey = -1;

static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static bool probed;

enum plog_protection plog_protection_mode(void)
{
	return __atomic_load_n(&plog_pkey, __ATOMIC_ACQUIRE) >= 0 ? PLOG_PROTECT_PKEY
								    : PLOG_PROTECT_NONE;
}

const char *plog_protection_name(enum plog_protection mode)
{
	return mode == PLOG_PROTECT_PKEY ? "pkey" : "none";
}

int plog_protect_init(void *mem, size_t size)
{
	if (!mem || !size)
		return -EINVAL;
	pthread_mutex_lock(&probe_lock);
	if (!probed) {
		probed = true;
		/* fails with EINVAL or ENOSYS without PKU, ENOSPC when every
		 * key is taken: then the log runs unprotected */
		int k = pkey_alloc(0, PKEY_DISABLE_WRITE);
		if (k >= 0)
			__atomic_store_n(&plog_pkey, k, __ATOMIC_RELEASE);
	}
	int k = plog_pkey;
	pthread_mutex_unlock(&probe_lock);
	if (k < 0)
		return 0;
	if (pkey_mprotect(mem, size, PROT_READ | PROT_WRITE, k) != 0)
		return -errno;
	return 0;
}

void plog_protect_thread(void)
{
	plog_write_end();
}
