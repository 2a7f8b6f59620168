/*
 * frontdoor.h - the FUSE front door (frontdoor.c): serve a mounted
 * /dev/fuse connection through this process's libananke connection.
 */
#ifndef ANK_FRONTDOOR_H
#define ANK_FRONTDOOR_H

#include <stdbool.h>

struct frontdoor_options {
	unsigned threads;       /* readers of /dev/fuse; 0: 4 */
	double attr_timeout;    /* seconds the kernel may trust attributes */
	double entry_timeout;   /* seconds it may trust a name's lookup */
	bool readdirplus;       /* answer READDIRPLUS (entries with attributes) */
	bool keep_cache;        /* keep a file's page cache across opens */
	bool writeback;         /* the kernel's writeback cache: write(2) ends in
	                           the page cache, WRITEs follow in the background */
	const char *mountpoint; /* unmounted (lazily) when the service goes away */
};

/* Serve requests on fuse_fd until the file system is unmounted (or the
 * kernel sends DESTROY). The process must be connected (ank_mount).
 * 0, or -ENOMEM when no reader could start. */
int frontdoor_serve(int fuse_fd, const struct frontdoor_options *opt);

#endif
