/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef PRIVMEM_UTIL_H
#define PRIVMEM_UTIL_H

#include <stdint.h>
#include <stddef.h>

#define PM_DEFAULT_SOCKET "/run/privmem/privmemd.sock"

/* "ENOTTY" for 25; "E<n>" for errnos without a name here. buf >= 16. */
const char *pm_errno_name(int err, char *buf, size_t len);
uint64_t pm_now_ns(void);	/* CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns */
const char *pm_dir_name(int dir);
/* A decide() verdict as reports name it: "rate", "max_request", "shared_ceiling" ("allow"). */
const char *pm_deny_reason(unsigned verdict);
/*
 * Room for element n of a growing array of size-byte elements: arr itself
 * while n < *cap, else arr realloc'ed with *cap doubled (first when 0).
 * NULL when out of memory; arr is then still valid.
 */
void *pm_grow(void *arr, size_t n, size_t *cap, size_t size, size_t first);
/* "74.0MiB": binary units, one decimal above bytes. */
void pm_fmt_bytes(char *buf, size_t len, uint64_t b);
const char *pm_exit_reason_name(unsigned reason);
/* Reads /proc/PID/cgroup's v2 path; "" when the process is gone. */
int pm_cgroup_of_pid(uint32_t pid, char *buf, size_t len);
/*
 * Path of a cgroup v2 id (src/lib/cgroup.c): opened by its file handle, no
 * walk; where the kernel cannot, a walk of at most PM_CGROUP_WALK_MAX
 * directories. Answers, found or not, are cached (PM_CGROUP_CACHE ids).
 */
#define PM_CGROUP_WALK_MAX	20000
#define PM_CGROUP_CACHE		256
int pm_cgroup_path_by_id(uint64_t id, char *buf, size_t len);
/* Lookups that found nothing, and walks cut at the bound (for tests and status). */
struct pm_cgroup_stats {
	uint64_t lookups, cached, by_handle, walks, walks_cut, not_found;
};
void pm_cgroup_stats(struct pm_cgroup_stats *out);

#endif
