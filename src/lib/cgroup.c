// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A VM's cgroup, for policy matching and reports. Its VMM's /proc/PID/cgroup
 * says it while the VMM lives; after that only the id the kernel stamped on
 * its events remains. These run on privmemd's event path: a lookup must not
 * walk the whole of cgroupfs (thousands of directories on a busy host, and
 * once for every VM of a gone VMM).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util.h"

#define FILEID_KERNFS 0xfe	/* include/linux/exportfs.h: a cgroup's handle is its 64-bit id */

static struct pm_cgroup_stats stats;

int pm_cgroup_of_pid(uint32_t pid, char *buf, size_t len)
{
	char path[64], line[512];
	FILE *f;
	int ret = -ENOENT;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, len, "%s", line + 3);
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

static int cgroup2_mount(char *mnt, size_t len)
{
	char line[512], dir[256];
	FILE *f = fopen("/proc/mounts", "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %255s cgroup2", dir) == 1 && strstr(line, " cgroup2 ")) {
			snprintf(mnt, len, "%s", dir);
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

/* The path below mnt of what fd is open on. */
static int fd_path_below(int fd, const char *mnt, char *buf, size_t len)
{
	char link[64], path[4096];
	size_t ml = strlen(mnt);
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return -errno;
	path[n] = '\0';
	if (strncmp(path, mnt, ml) || (path[ml] && path[ml] != '/'))
		return -ENOENT;	/* outside our view of cgroupfs (another namespace) */
	snprintf(buf, len, "%s", path[ml] ? path + ml : "/");
	return 0;
}

/* cgroup2 exports its directories by id: open_by_handle_at(2), then the fd's own path. */
static int by_handle(const char *mnt, uint64_t id, char *buf, size_t len)
{
	union {
		struct file_handle fh;
		char raw[sizeof(struct file_handle) + sizeof(uint64_t)];
	} h;
	int mfd, fd, err;

	memset(&h, 0, sizeof(h));
	h.fh.handle_bytes = sizeof(uint64_t);
	h.fh.handle_type = FILEID_KERNFS;
	memcpy(h.fh.f_handle, &id, sizeof(id));
	mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return -errno;
	fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	err = fd < 0 ? -errno : fd_path_below(fd, mnt, buf, len);
	if (fd >= 0)
		close(fd);
	close(mfd);
	return err;
}

/* The fallback walk: cgroup ids are the directories' inode numbers. */
static uint64_t want_ino;
static char *found_path;
static size_t found_len, root_len;
static unsigned walked;

static int match_ino(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag != FTW_D)
		return 0;
	if (++walked > PM_CGROUP_WALK_MAX)
		return 2;
	if ((uint64_t)st->st_ino != want_ino)
		return 0;
	snprintf(found_path, found_len, "%s", path[root_len] ? path + root_len : "/");
	return 1;
}

static int by_walk(const char *mnt, uint64_t id, char *buf, size_t len)
{
	int r;

	want_ino = id;
	found_path = buf;
	found_len = len;
	root_len = strlen(mnt);
	walked = 0;
	stats.walks++;
	r = nftw(mnt, match_ino, 16, FTW_PHYS);
	if (r == 2)
		stats.walks_cut++;
	return r == 1 ? 0 : -ENOENT;
}

/* Recent answers, found or not: a burst of VMs in one cgroup asks once. */
static struct cg_entry {
	uint64_t id;
	int err;
	char path[256];
} cache[PM_CGROUP_CACHE];
static unsigned cache_next;

static struct cg_entry *cache_find(uint64_t id)
{
	for (unsigned i = 0; i < PM_CGROUP_CACHE; i++)
		if (cache[i].id == id && (cache[i].err || cache[i].path[0]))
			return &cache[i];
	return NULL;
}

int pm_cgroup_path_by_id(uint64_t id, char *buf, size_t len)
{
	struct cg_entry *e;
	char mnt[256];
	int err;

	buf[0] = '\0';
	stats.lookups++;
	if ((e = cache_find(id))) {
		stats.cached++;
		snprintf(buf, len, "%s", e->path);
		return e->err;
	}
	err = cgroup2_mount(mnt, sizeof(mnt));
	if (!err) {
		err = by_handle(mnt, id, buf, len);
		if (!err)
			stats.by_handle++;
		else if (err != -ESTALE && err != -ENOENT)
			err = by_walk(mnt, id, buf, len);	/* no handles here (EOPNOTSUPP, EPERM) */
	}
	if (err)
		stats.not_found++;
	e = &cache[cache_next++ % PM_CGROUP_CACHE];
	e->id = id;
	e->err = err ? err : 0;
	snprintf(e->path, sizeof(e->path), "%s", err ? "" : buf);
	if (err)
		buf[0] = '\0';
	return err;
}

void pm_cgroup_stats(struct pm_cgroup_stats *out)
{
	*out = stats;
}
