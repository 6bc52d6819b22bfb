// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gtcompare PRIVMEM_JSON GROUND_TRUTH_JSON...: asserts that privmem's books
 * for each tests/vmm run (matched by pid) equal the VMM's own ground truth.
 */
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "jsonutil.h"
#include "ktest.h"

static const char *str(json_object *o, const char *path)
{
	json_object *v = pm_json_at(o, path);

	return v ? json_object_get_string(v) : "";
}

/* missing reads as UINT64_MAX; callers check presence first (both()) */
static uint64_t num(json_object *o, const char *path)
{
	return pm_json_u64(o, path, UINT64_MAX);
}

/* A value must be there before it is compared: missing on either side fails. */
static bool both(json_object *mine, const char *mpath, json_object *truth, const char *tpath)
{
	char what[160];
	bool a = pm_json_at(mine, mpath) != NULL, b = pm_json_at(truth, tpath) != NULL;

	snprintf(what, sizeof(what), "%s: in privmem's books", mpath);
	ASSERT_TRUE(a, what);
	snprintf(what, sizeof(what), "%s: in the ground truth", tpath);
	ASSERT_TRUE(b, what);
	return a && b;
}

/* privmem's MPATH equals the ground truth's TPATH plus EXTRA, both present */
static void same_as(json_object *mine, const char *mpath, json_object *truth, const char *tpath,
		    uint64_t extra, const char *what)
{
	if (both(mine, mpath, truth, tpath))
		ASSERT_EQ(num(mine, mpath), num(truth, tpath) + extra, what);
}

static void same(json_object *mine, json_object *truth, const char *path)
{
	same_as(mine, path, truth, path, 0, path);
}

/* Objects of counters: same keys, same values, zeros omitted on both sides. */
static void same_counts(json_object *mine, json_object *truth, const char *pm_path, const char *gt_path)
{
	json_object *a = pm_json_at(mine, pm_path), *b = pm_json_at(truth, gt_path);
	char what[160];

	if (!ASSERT_TRUE(a && b, pm_path))
		return;
	snprintf(what, sizeof(what), "%s: number of keys", pm_path);
	ASSERT_EQ(json_object_object_length(a), json_object_object_length(b), what);
	json_object_object_foreach(b, k, v) {
		snprintf(what, sizeof(what), "%s.%s", pm_path, k);
		ASSERT_EQ(num(a, k), json_object_get_uint64(v), what);
	}
}

static void compare_faults(json_object *vm, json_object *gt)
{
	json_object *recent = pm_json_at(vm, "recent_requests"), *faults = pm_json_at(gt, "memory_faults");
	size_t j = 0;

	if (!ASSERT_TRUE(recent && faults, "recent_requests and memory_faults"))
		return;
	for (size_t i = 0; i < json_object_array_length(recent); i++) {
		json_object *r = json_object_array_get_idx(recent, i), *f;

		if (strcmp(str(r, "source"), "memory_fault"))
			continue;
		f = json_object_array_get_idx(faults, j++);
		if (!ASSERT_TRUE(f, "fault in ground truth"))
			return;
		same_as(r, "gpa", f, "gpa", 0, "fault gpa");
		same_as(r, "size", f, "size", 0, "fault size");
		same_as(r, "flags", f, "flags", 0, "fault flags");
	}
	ASSERT_EQ(j, json_object_array_length(faults), "every fault seen");
}

/*
 * A SW_PROTECTED_VM run makes its data region private before the guest runs
 * (setup_attr_*): privmem sees those calls as to-private conversions too.
 */
static uint64_t setup(json_object *gt, const char *key)
{
	json_object *v = pm_json_at(gt, key);

	return v ? json_object_get_uint64(v) : 0;
}

static void same_plus_setup(json_object *vm, json_object *gt, const char *path, uint64_t extra)
{
	same_as(vm, path, gt, path, extra, path);
}

static void same_hist_plus_setup(json_object *vm, json_object *gt, const char *path)
{
	json_object *a = pm_json_at(vm, path), *b = pm_json_at(gt, path), *add = pm_json_at(gt, "setup_attr_size_log2_hist");
	char what[160], key[8];

	if (!ASSERT_TRUE(a && b, path))
		return;
	for (int i = 0; i < 64; i++) {
		json_object *x;
		uint64_t want = 0, got = 0;

		snprintf(key, sizeof(key), "%d", i);
		if (json_object_object_get_ex(b, key, &x))
			want += json_object_get_uint64(x);
		if (add && json_object_object_get_ex(add, key, &x))
			want += json_object_get_uint64(x);
		if (json_object_object_get_ex(a, key, &x))
			got = json_object_get_uint64(x);
		snprintf(what, sizeof(what), "%s.%s", path, key);
		if (want || got)
			ASSERT_EQ(got, want, what);
	}
}

/* The guest's MAP_GPA_RANGE calls, newest last, against privmem's recent requests. */
/*
 * privmem keeps the last PM_RECENT requests of a VM, of both sources; every
 * fault is among them (compare_faults), so of the hypercalls the newest
 * PM_RECENT - faults are.
 */
#define PM_RECENT 64

static void compare_hypercalls(json_object *vm, json_object *gt)
{
	json_object *recent = pm_json_at(vm, "recent_requests"), *hc = pm_json_at(gt, "hypercalls"), *mf = pm_json_at(gt, "memory_faults");
	size_t nhc, nf, nrec = 0, k, want;

	if (!hc)
		return;
	if (!ASSERT_TRUE(recent && mf, "recent_requests and memory_faults"))
		return;
	nhc = json_object_array_length(hc);
	nf = json_object_array_length(mf);
	for (size_t i = 0; i < json_object_array_length(recent); i++)
		if (!strcmp(str(json_object_array_get_idx(recent, i), "source"), "hypercall"))
			nrec++;
	want = nhc + nf <= PM_RECENT ? nhc : PM_RECENT - (nf < PM_RECENT ? nf : PM_RECENT);
	ASSERT_EQ(json_object_array_length(recent), nhc + nf < PM_RECENT ? nhc + nf : PM_RECENT,
		  "recent requests kept");
	if (!ASSERT_EQ(nrec, want, "recent hypercalls kept") || nrec > nhc)
		return;
	k = nhc - nrec;
	for (size_t i = 0; i < json_object_array_length(recent); i++) {
		json_object *r = json_object_array_get_idx(recent, i), *h;

		if (strcmp(str(r, "source"), "hypercall"))
			continue;
		h = json_object_array_get_idx(hc, k++);
		same_as(r, "gpa", h, "gpa", 0, "hypercall gpa");
		if (both(r, "size", h, "npages"))
			ASSERT_EQ(num(r, "size"), num(h, "npages") * 4096, "hypercall size");
		same_as(r, "flags", h, "attrs", 0, "hypercall attrs");
	}
}

#define NO_GMEM "host KVM has no guest_memfd; covered by make vmtest"

/*
 * A VMM on a KVM without guest_memfd (ground truth "guest_memfd":false)
 * made no guest_memfd, no PUNCH_HOLE and no memory-fault exit: the books
 * must still equal its zeros (compare() checks that), but what privmem
 * does with those events was not exercised here, and says so.
 */
static void gmem_skips(json_object *gt)
{
	json_object *g = pm_json_at(gt, "guest_memfd"), *asked = pm_json_at(gt, "faults_asked");

	/* a truth with its own comm is no testvmm run (pminject's injected events) */
	if (pm_json_at(gt, "comm"))
		return;
	if (!ASSERT_TRUE(g && json_object_is_type(g, json_type_boolean),
			 "ground truth says whether the host had a guest_memfd"))
		return;
	if (json_object_get_boolean(g))
		return;
	SKIP("guest_memfd creation booked (guest_bytes, gmem_count > 0)", NO_GMEM);
	SKIP("discards: PUNCH_HOLE on a guest_memfd, count and bytes", NO_GMEM);
	if (ASSERT_TRUE(asked, "faults_asked in the ground truth") && json_object_get_uint64(asked))
		SKIP("memory-fault exits: each one's gpa, size, flags and its resume", NO_GMEM);
}

static bool release_live;	/* kvm_gmem_release is hooked: closed guest_memfds leave guest_bytes */

static void compare(json_object *vm, json_object *gt, bool set_attr_live)
{
	static const char *const dirs[] = { "to_private", "to_shared" };
	static const char *const keys[] = { "attempts", "attempt_bytes", "conversions", "bytes" };
	char p[96], q[96];

	/* testvmm's truth has no comm: its process is testvmm */
	json_object *gcomm = pm_json_at(gt, "comm");
	const char *comm = gcomm ? json_object_get_string(gcomm) : "testvmm";

	ASSERT_TRUE(strcmp(str(vm, "comm"), comm) == 0, "comm");
	ASSERT_TRUE(strcmp(str(vm, "state"), "destroyed") == 0,
		    "vm_destroy seen");
	for (int d = 0; d < 2; d++) {
		for (int k = 0; k < 4; k++) {
			snprintf(p, sizeof(p), "%s.%s", dirs[d], keys[k]);
			same_plus_setup(vm, gt, p, d ? 0 : setup(gt, k & 1 ? "setup_attr_bytes" : "setup_attr_calls"));
		}
		snprintf(p, sizeof(p), "%s.size_log2_hist", dirs[d]);
		if (d)
			same_counts(vm, gt, p, p);
		else
			same_hist_plus_setup(vm, gt, p);
		snprintf(p, sizeof(p), "%s.attempt_size_log2_hist", dirs[d]);
		if (d)
			same_counts(vm, gt, p, p);
		else
			same_hist_plus_setup(vm, gt, p);
	}
	same_counts(vm, gt, "attr_errors", "attr_errors");
	same(vm, gt, "discards");
	same(vm, gt, "discard_bytes");
	same(vm, gt, "discard_errors");
	same(vm, gt, "requests.hypercall");
	same(vm, gt, "requests.memory_fault");
	snprintf(q, sizeof(q), "kernel.exits");
	same_counts(vm, gt, q, "exits");
	same_as(vm, "kernel.kvm_run_errors", gt, "kvm_run_errors", 0, "kvm_run_errors");
	same_as(vm, "gmem_count", gt, "gmem.created", 0, "gmem_count");
	/*
	 * Where kvm_gmem_release is hooked, closed guest_memfds leave guest
	 * bytes. A VMM's exit is booked (sched_process_exit) before its files
	 * close, so a check right after may see some closes still in flight:
	 * none closed is all the bytes, all closed is none, and never more.
	 */
	if (release_live && both(vm, "gmem_closed", gt, "gmem.created") &&
	    both(vm, "guest_bytes", gt, "gmem.created_bytes")) {
		uint64_t closed = num(vm, "gmem_closed"), made = num(gt, "gmem.created");

		ASSERT_TRUE(closed <= made, "no more guest_memfds closed than made");
		if (closed == 0)
			ASSERT_EQ(num(vm, "guest_bytes"), num(gt, "gmem.created_bytes"), "guest_bytes, none closed yet");
		else if (closed == made)
			ASSERT_EQ(num(vm, "guest_bytes"), 0, "guest_bytes after every guest_memfd closed");
		else
			ASSERT_TRUE(num(vm, "guest_bytes") < num(gt, "gmem.created_bytes"), "guest_bytes, some closed");
	} else {
		same_as(vm, "guest_bytes", gt, "gmem.created_bytes", 0, "guest_bytes");
	}
	{
		uint64_t req = num(gt, "requests.memory_fault") + num(gt, "requests.hypercall");
		json_object *oc = pm_json_at(gt, "outcome");
		/* a VMM that died handling a request never resumed that vCPU */
		bool cut = oc && strcmp(json_object_get_string(oc), "completed") && req;

		if (both(vm, "resume_latency.count", gt, "requests.memory_fault") &&
		    both(vm, "resume_latency.count", gt, "requests.hypercall"))
			ASSERT_EQ(num(vm, "resume_latency.count"), req - cut, "a resume per request");
	}
	ASSERT_EQ(num(vm, "lost"), 0, "no loss");
	if (set_attr_live && ASSERT_TRUE(pm_json_at(vm, "kernel.set_attr_calls"), "kernel.set_attr_calls present"))
		ASSERT_EQ(num(vm, "kernel.set_attr_calls"),
			  num(vm, "to_private.conversions") + num(vm, "to_shared.conversions"),
			  "kernel's kvm_vm_set_mem_attributes count = privmem's conversions");
	compare_faults(vm, gt);
	compare_hypercalls(vm, gt);
	gmem_skips(gt);
}

#define MAX_VMS_PER_VMM 64

/* One VM's truth of a --vms run: its element, plus the run's keys it lacks (pid, host caps). */
static json_object *vm_truth(json_object *gt, json_object *elem)
{
	json_object *t = json_object_new_object();

	json_object_object_foreach(gt, k, v)
		if (strcmp(k, "vms"))
			json_object_object_add(t, k, json_object_get(v));
	json_object_object_foreach(elem, k2, v2)
		json_object_object_add(t, k2, json_object_get(v2));
	return t;
}

int main(int argc, char **argv)
{
	json_object *pm, *vms;
	bool set_attr_live;

	if (argc < 3) {
		fprintf(stderr, "usage: gtcompare PRIVMEM_VMS_JSON GROUND_TRUTH_JSON...\n");
		return 2;
	}
	pm = json_object_from_file(argv[1]);
	if (!pm || !json_object_object_get_ex(pm, "vms", &vms)) {
		fprintf(stderr, "gtcompare: %s: not privmem vms JSON\n", argv[1]);
		return 2;
	}
	ASSERT_EQ(num(pm, "lost"), 0, "global lost");
	{
		json_object *st = pm_json_at(pm, "hooks.kvm_vm_set_mem_attributes.state");

		set_attr_live = st && !strcmp(json_object_get_string(st), "live");
		st = pm_json_at(pm, "hooks.kvm_gmem_release.state");
		release_live = st && !strcmp(json_object_get_string(st), "live");
	}
	for (int i = 2; i < argc; i++) {
		json_object *gt = json_object_from_file(argv[i]), *per_vm;
		json_object *match[MAX_VMS_PER_VMM];
		size_t nmatch = 0, want = 1;

		kt_name = argv[i];
		if (!ASSERT_TRUE(gt, "ground truth parses"))
			continue;
		/* testvmm --vms N: N VMs in turn in one process, in creation order (privmem's list order too) */
		if (json_object_object_get_ex(gt, "vms", &per_vm))
			want = json_object_array_length(per_vm);
		else
			per_vm = NULL;
		for (size_t j = 0; j < json_object_array_length(vms); j++) {
			json_object *vm = json_object_array_get_idx(vms, j);

			if (num(vm, "pid") == num(gt, "pid") && nmatch < MAX_VMS_PER_VMM)
				match[nmatch++] = vm;
		}
		if (!ASSERT_EQ(nmatch, want, per_vm ? "one VM per creation for the VMM's pid" :
						       "exactly one VM for the VMM's pid"))
			goto next;
		for (size_t k = 0; k < want; k++) {
			json_object *t = per_vm ? vm_truth(gt, json_object_array_get_idx(per_vm, k)) : json_object_get(gt);

			ASSERT_TRUE(k == 0 || strcmp(str(match[k], "id"), str(match[k - 1], "id")),
				    "each creation has its own id");
			compare(match[k], t, set_attr_live);
			json_object_put(t);
		}
next:
		json_object_put(gt);
	}
	json_object_put(pm);
	return kt_summary();
}
