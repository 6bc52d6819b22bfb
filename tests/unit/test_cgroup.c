// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A cgroup id back to its path on this machine's own cgroupfs: the test's
 * own cgroup (its id is the directory's inode number), found without a walk
 * where the kernel hands out cgroup file handles; an id that exists nowhere
 * costs one lookup, then comes from the cache.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "util.h"

static int cgroup2_mount(char *mnt, size_t len)
{
	char line[512], dir[256];
	FILE *f = fopen("/proc/mounts", "re");
	int ret = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %255s cgroup2", dir) == 1 && strstr(line, " cgroup2 ")) {
			snprintf(mnt, len, "%s", dir);
			ret = 0;
			break;
		}
	if (f)
		fclose(f);
	return ret;
}

static void own_cgroup(void **state)
{
	char mnt[256], mine[256], full[600], got[256];
	struct pm_cgroup_stats a, b;
	struct stat st;

	(void)state;
	if (cgroup2_mount(mnt, sizeof(mnt)) || pm_cgroup_of_pid((uint32_t)getpid(), mine, sizeof(mine))) {
		print_message("SKIP own_cgroup: no cgroup2 mount or no v2 line in /proc/self/cgroup\n");
		skip();
	}
	snprintf(full, sizeof(full), "%s%s", mnt, strcmp(mine, "/") ? mine : "");
	assert_int_equal(stat(full, &st), 0);
	pm_cgroup_stats(&a);
	assert_int_equal(pm_cgroup_path_by_id((uint64_t)st.st_ino, got, sizeof(got)), 0);
	assert_string_equal(got, mine);
	pm_cgroup_stats(&b);
	assert_int_equal(b.lookups, a.lookups + 1);
	/* root may open cgroups by handle: then nothing is walked */
	if (geteuid() == 0)
		assert_int_equal(b.walks, a.walks);
	/* the second time from the cache */
	assert_int_equal(pm_cgroup_path_by_id((uint64_t)st.st_ino, got, sizeof(got)), 0);
	assert_string_equal(got, mine);
	pm_cgroup_stats(&a);
	assert_int_equal(a.cached, b.cached + 1);
}

static void unknown_id_cached(void **state)
{
	char got[256] = "x";
	struct pm_cgroup_stats a, b;
	uint64_t id = 0x7ffffffffff1ull;	/* no such inode on any cgroupfs */

	(void)state;
	pm_cgroup_stats(&a);
	assert_true(pm_cgroup_path_by_id(id, got, sizeof(got)) < 0);
	assert_string_equal(got, "");
	pm_cgroup_stats(&b);
	assert_int_equal(b.not_found, a.not_found + 1);
	/* a burst of VMs in that cgroup: no further lookup, no walk */
	for (int i = 0; i < 100; i++)
		assert_true(pm_cgroup_path_by_id(id, got, sizeof(got)) < 0);
	pm_cgroup_stats(&a);
	assert_int_equal(a.cached, b.cached + 100);
	assert_int_equal(a.walks, b.walks);
	assert_int_equal(a.not_found, b.not_found);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(own_cgroup),
		cmocka_unit_test(unknown_id_cached),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
