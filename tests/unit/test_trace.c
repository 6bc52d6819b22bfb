// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The trace format: round trips, replay equal to the live books, size per
 * event, and every documented corruption (privmem-trace(5) DIAGNOSTICS).
 * Also built with ASan+UBSan (build/asan/test_trace, `make tracetest`).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>
#include "export.h"
#include "replay.h"
#include "trace.h"
#include "vmjson.h"
#include "vmstate.h"
#include "privmem/kvm_abi.h"
#include "../trace/synth.h"

/* ---------------------------------------------------------------- helpers */

struct buf {
	uint8_t *p;
	size_t n;
};

struct seen {
	struct pm_event *ev;
	size_t n, cap;
	unsigned kstats, lost, vminfo, gone, hits, policy;
	struct pm_trace_vminfo vi[4];	/* the first vminfo records, as read */
	unsigned nvi;
	char last_policy[64];
	uint64_t last_lost;
	char warn[16][256];
	unsigned nwarn;
};

static void on_event(void *ctx, const struct pm_event *e)
{
	struct seen *s = ctx;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->ev = realloc(s->ev, s->cap * sizeof(*s->ev));
		assert_non_null(s->ev);
	}
	s->ev[s->n++] = *e;
}

static void on_kstats(void *ctx, uint64_t vm, uint64_t ts, const struct pm_vm_kstats *k)
{
	struct seen *s = ctx;

	(void)vm;
	(void)ts;
	if (k->exits[2] == 1234567 && k->lost == 3 && k->private_fault_hist[63] == 9)
		s->kstats++;
}

static void on_lost(void *ctx, uint64_t ts, uint64_t lost)
{
	struct seen *s = ctx;

	(void)ts;
	s->lost++;
	s->last_lost = lost;
}

static void on_vminfo(void *ctx, const struct pm_trace_vminfo *vi)
{
	struct seen *s = ctx;

	if (s->nvi < 4)
		s->vi[s->nvi++] = *vi;
	if (!strcmp(vi->cgroup, "/machine.slice/vm-1.scope") && !strcmp(vi->comm, "qemu-system-x86") &&
	    !strcmp(vi->name, "vm-1") && vi->name_src == 1)
		s->vminfo++;
}

static void on_gone(void *ctx, uint64_t vm, uint64_t ts)
{
	(void)vm;
	(void)ts;
	((struct seen *)ctx)->gone++;
}

static void on_hits(void *ctx, const uint64_t *hits, unsigned n)
{
	struct seen *s = ctx;

	if (n == 2 && hits[0] == 5 && hits[1] == 77)
		s->hits++;
}

static void on_policy(void *ctx, uint64_t ts, const char *text, size_t len)
{
	struct seen *s = ctx;

	(void)ts;
	s->policy++;
	snprintf(s->last_policy, sizeof(s->last_policy), "%.*s", (int)len, text);
}

static void on_warn(void *ctx, const char *msg)
{
	struct seen *s = ctx;

	if (s->nwarn < 16)
		snprintf(s->warn[s->nwarn], sizeof(s->warn[0]), "%s", msg);
	s->nwarn++;
}

static const struct pm_trace_ops ops = {
	.event = on_event, .kstats = on_kstats, .lost = on_lost, .vminfo = on_vminfo,
	.vm_gone = on_gone, .hook_hits = on_hits, .policy = on_policy, .warn = on_warn,
};

static char tmpl[64];

static int tmpfd(void)
{
	int fd;

	snprintf(tmpl, sizeof(tmpl), "/tmp/pmtrace-test.XXXXXX");
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	return fd;
}

static struct buf slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct buf b = { 0 };
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b.p = malloc(n ? (size_t)n : 1);
	b.n = (size_t)n;
	assert_int_equal(fread(b.p, 1, b.n, f), b.n);
	fclose(f);
	return b;
}

static void info_for_test(struct pm_trace_info *info)
{
	pm_trace_info_local(info, "test");
	info->policy = strdup("rules: []\n");
	info->hooks[0] = (struct pm_hook_status){ .name = "kvm_userspace_exit", .covers = "exits", .state = PM_HOOK_LIVE };
	info->hooks[1] = (struct pm_hook_status){ .name = "syscalls:ioctl", .covers = "decide", .state = PM_HOOK_LIVE,
						  .taxes_all = true };
	snprintf(info->hooks[1].reason, sizeof(info->hooks[1].reason), "fallback");
	info->nhooks = 2;
}

/* Writes n synthetic events, a chunk every per_chunk; returns the file in memory. */
static struct buf make_trace(uint64_t n, uint64_t per_chunk, struct pm_event **evs)
{
	struct pm_trace_info info;
	struct pm_trace_writer *w;
	struct synth s;
	int fd = tmpfd();
	struct buf b;

	info_for_test(&info);
	assert_int_equal(pm_tw_open(&w, fd, &info), 0);
	free(info.policy);
	synth_init(&s, 7, 3, -25);
	if (evs)
		*evs = calloc(n, sizeof(**evs));
	for (uint64_t i = 0; i < n; i++) {
		struct pm_event e = synth_next(&s);

		if (evs)
			(*evs)[i] = e;
		pm_tw_event(w, &e);
		if (per_chunk && (i + 1) % per_chunk == 0)
			assert_int_equal(pm_tw_flush(w), 0);
	}
	assert_int_equal(pm_tw_close(w), 0);
	b = slurp(tmpl);
	unlink(tmpl);
	return b;
}

/* Offsets of the chunks, walking their headers. */
static unsigned chunk_offsets(const struct buf *b, size_t *off, unsigned max)
{
	size_t o = PM_TRACE_HDR_FIXED + (b->p[12] | b->p[13] << 8 | b->p[14] << 16 | (size_t)b->p[15] << 24);
	unsigned n = 0;

	while (o + PM_TRACE_CHUNK_HDR <= b->n && n < max) {
		uint32_t clen;

		memcpy(&clen, b->p + o + 4, 4);
		off[n++] = o;
		o += PM_TRACE_CHUNK_HDR + clen;
	}
	return n;
}

static int read_mem(const struct buf *b, struct seen *s, struct pm_trace_stats *st, char *msg, size_t len)
{
	struct pm_trace *t;
	int err = pm_trace_open_mem(&t, b->p, b->n, msg, len);

	if (err)
		return err;
	err = pm_trace_read(t, &ops, s, st);
	pm_trace_close(t);
	return err;
}

/* ---------------------------------------------------------------- tests */

static void varints(void **state)
{
	static const uint64_t v[] = { 0, 1, 127, 128, 300, 16383, 16384, (1ull << 35) - 1, UINT64_MAX - 1, UINT64_MAX };
	uint8_t b[16], over[11];
	uint64_t x;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = pm_varint_put(b, v[i]);

		assert_true(n >= 1 && n <= 10);
		assert_int_equal(pm_varint_get(b, b + n, &x), n);
		assert_true(x == v[i]);
		assert_int_equal(pm_varint_get(b, b + n - 1, &x), 0);	/* cut short */
	}
	memset(over, 0xff, sizeof(over));
	over[10] = 0x01;
	assert_int_equal(pm_varint_get(over, over + 11, &x), 0);	/* more than 64 bits */
}

static void round_trip_all_fields(void **state)
{
	struct pm_trace_info info;
	struct pm_trace_writer *w;
	struct pm_event *evs;
	struct seen s = { 0 };
	struct pm_trace_stats st = { 0 };
	struct pm_vm_kstats k = { 0 };
	uint64_t hits[2] = { 5, 77 };
	struct synth sy;
	const uint64_t n = 200000;
	char msg[256];
	struct buf b;
	int fd = tmpfd();

	(void)state;
	info_for_test(&info);
	assert_int_equal(pm_tw_open(&w, fd, &info), 0);
	free(info.policy);
	synth_init(&sy, 11, 5, 0);
	evs = calloc(n, sizeof(*evs));
	k.exits[2] = 1234567;
	k.lost = 3;
	k.private_fault_hist[63] = 9;
	for (uint64_t i = 0; i < n; i++) {
		struct pm_event e = synth_next(&sy);

		/* odd records the compact form cannot hold, and extremes it must */
		switch (i % 9973) {
		case 1: e.type = 0; break;
		case 2: e.type = 15; e.dir = 9; break;
		case 3: e.vcpu = -7; e.ret = INT32_MIN; e.aux = UINT32_MAX; break;
		case 4: e.addr = UINT64_MAX; e.size = 1ull << 63 | 4096; e.attrs = UINT64_MAX; break;
		case 5: memcpy(e.comm, "0123456789abcdef", 16); break;
		case 6: e.ts -= 5000000; e.tid = 1; e.pid = UINT32_MAX; e.cgroup = UINT64_MAX; break;
		case 7: e.vm = 0x8000000000000001ull; e.flags = 0xff; e.source = 3; break;
		}
		evs[i] = e;
		pm_tw_event(w, &e);
		if (i % 50000 == 10) {
			pm_tw_kstats(w, e.vm, e.ts, &k);
			pm_tw_lost(w, e.ts, i);
			pm_tw_vminfo(w, e.vm, 42, 9, e.ts, "qemu-system-x86", "/machine.slice/vm-1.scope",
				     "vm-1", 1);
			pm_tw_vm_gone(w, e.vm, e.ts);
			pm_tw_hook_hits(w, hits, 2);
			pm_tw_policy(w, e.ts, i < 100000 ? "mode: audit\n" : "mode: enforce\n");
		}
		if (i % 77777 == 0)
			pm_tw_flush(w);
	}
	assert_int_equal(pm_tw_events(w), n);
	assert_int_equal(pm_tw_close(w), 0);
	b = slurp(tmpl);
	unlink(tmpl);

	assert_int_equal(read_mem(&b, &s, &st, msg, sizeof(msg)), 0);
	assert_int_equal(s.nwarn, 0);
	assert_int_equal(s.n, n);
	assert_int_equal(st.events, n);
	for (uint64_t i = 0; i < n; i++) {
		/* comm is kept up to its NUL */
		size_t l = strnlen(evs[i].comm, PM_COMM_LEN);

		memset(evs[i].comm + l, 0, PM_COMM_LEN - l);
		if (memcmp(&evs[i], &s.ev[i], sizeof(evs[i])))
			fail_msg("event %llu differs after the round trip", (unsigned long long)i);
	}
	assert_int_equal(s.kstats, 4);
	assert_int_equal(s.lost, 4);
	assert_int_equal(s.last_lost, 150010);
	assert_int_equal(s.vminfo, 4);
	assert_int_equal(s.gone, 4);
	assert_int_equal(s.hits, 4);
	assert_int_equal(s.policy, 4);
	assert_string_equal(s.last_policy, "mode: enforce\n");
	free(evs);
	free(s.ev);
	free(b.p);
}

static void header_round_trip(void **state)
{
	struct buf b = make_trace(10, 0, NULL);
	struct pm_trace *t;
	const struct pm_trace_info *in;
	char msg[256];

	(void)state;
	assert_int_equal(pm_trace_open_mem(&t, b.p, b.n, msg, sizeof(msg)), 0);
	in = pm_trace_get_info(t);
	assert_int_equal(in->major, PM_TRACE_MAJOR);
	assert_string_equal(in->writer, "test");
	assert_string_equal(in->policy, "rules: []\n");
	assert_int_equal(in->nhooks, 2);
	assert_string_equal(in->hooks[1].name, "syscalls:ioctl");
	assert_string_equal(in->hooks[1].covers, "decide");
	assert_string_equal(in->hooks[1].reason, "fallback");
	assert_true(in->hooks[1].taxes_all);
	assert_int_equal(in->hooks[0].state, PM_HOOK_LIVE);
	assert_true(in->start_ns > 0 && in->wall_offset_ns != 0);
	assert_true(in->host[0] && in->kernel[0]);
	pm_trace_close(t);
	free(b.p);
}

/* Replay through the trace equals the books kept live from the same records. */
static void replay_equals_live(void **state)
{
	struct pm_event *evs;
	const uint64_t n = 100000;
	struct buf b = make_trace(n, 20000, &evs);
	struct pm_state live;
	struct pm_replay r;
	json_object *a, *c;
	char msg[256];
	FILE *f;

	(void)state;
	pm_state_init(&live);
	for (uint64_t i = 0; i < n; i++)
		pm_state_apply(&live, &evs[i]);
	snprintf(tmpl, sizeof(tmpl), "/tmp/pmtrace-test.XXXXXX");
	f = fdopen(mkstemp(tmpl), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b.p, 1, b.n, f), b.n);
	fclose(f);
	pm_replay_init(&r);
	assert_int_equal(pm_replay_file(&r, tmpl, msg, sizeof(msg)), 0);
	unlink(tmpl);
	a = pm_json_vms(&live, NULL, 0);
	c = pm_replay_json(&r, NULL);
	json_object_object_del(c, "trace");
	json_object_object_del(c, "timeline");
	json_object_object_del(c, "hooks");
	assert_string_equal(json_object_to_json_string(a), json_object_to_json_string(c));
	assert_int_equal(r.st.events, n);
	json_object_put(a);
	json_object_put(c);
	pm_replay_free(&r);
	pm_state_free(&live);
	free(evs);
	free(b.p);
}

/* privmem export's Chrome JSON of the trace in b holds want. */
static void export_has(const struct buf *b, const char *want)
{
	struct pm_export_opts o = { .to_ns = UINT64_MAX };
	const char *path = tmpl;
	char *text = NULL, msg[256];
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	FILE *f;

	snprintf(tmpl, sizeof(tmpl), "/tmp/pmtrace-test.XXXXXX");
	f = fdopen(mkstemp(tmpl), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b->p, 1, b->n, f), b->n);
	fclose(f);
	assert_int_equal(pm_export_chrome(out, &path, 1, &o, msg, sizeof(msg)), 0);
	unlink(tmpl);
	fclose(out);
	if (!strstr(text, want))
		fail_msg("export lacks %s:\n%s", want, text);
	free(text);
}

static struct pm_event mem_event(uint8_t type, uint64_t ts, uint64_t addr, uint64_t size)
{
	struct pm_event e;

	memset(&e, 0, sizeof(e));
	e.ts = ts;
	e.vm = 0x77;
	e.pid = 42;
	e.tid = 43;
	e.type = type;
	e.vcpu = -1;
	e.addr = addr;
	e.size = size;
	strcpy(e.comm, "qemu-system-x86");
	return e;
}

/*
 * A guest_memfd's close (record type 11) comes back bit for bit, whatever
 * it is delta-encoded against (another type, the same type, a chunk's
 * start), and replays to the live books: guest memory and the shared part
 * shrink by its size.
 */
static void gmem_close_round_trip(void **state)
{
	struct pm_event evs[10];
	struct pm_trace_info info;
	struct pm_trace_writer *w;
	struct pm_trace_stats st = { 0 };
	struct seen s = { 0 };
	struct pm_state live;
	struct pm_replay r;
	struct pm_vm *vm;
	json_object *a, *c;
	unsigned n = 0;
	char msg[256];
	struct buf b;
	int fd = tmpfd();

	(void)state;
	evs[n++] = mem_event(PM_EV_VM_CREATE, 1000, 0, 0);
	evs[n++] = mem_event(PM_EV_GMEM_CREATE, 2000, 5, 64ull << 20);
	evs[n++] = mem_event(PM_EV_GMEM_CREATE, 3000, 6, 16ull << 20);
	evs[n] = mem_event(PM_EV_DECIDE, 4000, 0, 60ull << 20);
	evs[n].dir = PM_TO_PRIVATE;
	evs[n++].attrs = PM_KVM_MEMORY_ATTRIBUTE_PRIVATE;
	evs[n++] = mem_event(PM_EV_GMEM_CLOSE, 5000, 6, 16ull << 20);	/* the first of its type */
	evs[n++] = mem_event(PM_EV_GMEM_CREATE, 6000, 7, 12345);
	evs[n++] = mem_event(PM_EV_GMEM_CLOSE, 7000, 7, 12345);		/* against the previous close */
	evs[n++] = mem_event(PM_EV_GMEM_CLOSE, 8000, 9, 4096);		/* first record of a chunk */
	info_for_test(&info);
	assert_int_equal(pm_tw_open(&w, fd, &info), 0);
	free(info.policy);
	for (unsigned i = 0; i < n; i++) {
		if (i == n - 1)
			assert_int_equal(pm_tw_flush(w), 0);
		pm_tw_event(w, &evs[i]);
	}
	assert_int_equal(pm_tw_close(w), 0);
	b = slurp(tmpl);
	unlink(tmpl);

	assert_int_equal(read_mem(&b, &s, &st, msg, sizeof(msg)), 0);
	assert_int_equal(s.nwarn, 0);
	assert_int_equal(st.unknown_records, 0);
	assert_int_equal(s.n, n);
	for (unsigned i = 0; i < n; i++)
		if (memcmp(&evs[i], &s.ev[i], sizeof(evs[i])))
			fail_msg("event %u (type %u) differs after the round trip", i, evs[i].type);

	pm_state_init(&live);
	for (unsigned i = 0; i < n; i++)
		pm_state_apply(&live, &evs[i]);
	pm_replay_init(&r);
	assert_int_equal(pm_replay_mem(&r, b.p, b.n, "mem", msg, sizeof(msg)), 0);
	vm = pm_state_find(&r.st, 0x77);
	assert_non_null(vm);
	assert_int_equal(vm->gmem_count, 3);
	assert_int_equal(vm->gmem_closed, 3);
	assert_int_equal(vm->guest_bytes, (64ull << 20) - 4096);
	assert_int_equal(pm_vm_shared_bytes(vm), (4ull << 20) - 4096);
	assert_int_equal(r.st.by_type[PM_EV_GMEM_CLOSE], 3);
	assert_int_equal(r.st.bad_events, 0);
	a = pm_json_vms(&live, NULL, 0);
	c = pm_replay_json(&r, NULL);
	json_object_object_del(c, "trace");
	json_object_object_del(c, "timeline");
	json_object_object_del(c, "hooks");
	assert_string_equal(json_object_to_json_string(a), json_object_to_json_string(c));
	json_object_put(a);
	json_object_put(c);
	pm_replay_free(&r);
	pm_state_free(&live);
	export_has(&b, "{\"name\":\"gmem_close\",\"cat\":\"privmem\",\"ph\":\"i\",\"s\":\"p\"");
	/* the shared counter after the last close: 4 MiB - 4 KiB shared of 64 MiB - 4 KiB */
	export_has(&b, "\"args\":{\"shared\":4190208,\"private\":62914560}");
	free(s.ev);
	free(b.p);
}

/* The size goal of the format: <= 8 bytes per event on the testvmm workload. */
static void bytes_per_event(void **state)
{
	const uint64_t n = 400000;
	struct buf b = make_trace(n, 4000, NULL);	/* ~1 s of chunks at 4k events/s */
	double per = (double)b.n / n;

	(void)state;
	print_message("trace: %.2f bytes per event (%zu bytes, %llu events)\n", per, b.n, (unsigned long long)n);
	assert_true(per <= 8.0);
	free(b.p);
}

static void corrupt_middle_chunk(void **state)
{
	struct buf b = make_trace(50000, 10000, NULL);
	size_t off[16];
	unsigned n = chunk_offsets(&b, off, 16);
	struct seen s = { 0 };
	struct pm_trace_stats st = { 0 };
	char msg[256], want[64];

	(void)state;
	assert_int_equal(n, 5);
	b.p[off[2] + PM_TRACE_CHUNK_HDR + 100] ^= 0x5a;
	assert_int_equal(read_mem(&b, &s, &st, msg, sizeof(msg)), 1);
	assert_int_equal(s.n, 40000);
	assert_int_equal(st.bad_chunks, 1);
	assert_int_equal(s.nwarn, 1);
	snprintf(want, sizeof(want), "offset %zu: bad chunk (CRC mismatch)", off[2]);
	assert_non_null(strstr(s.warn[0], want));
	free(s.ev);
	free(b.p);
}

static void corrupt_chunk_length(void **state)
{
	struct buf b = make_trace(50000, 10000, NULL);
	size_t off[16];
	struct seen s = { 0 };
	struct pm_trace_stats st = { 0 };
	char msg[256], want[64];

	(void)state;
	assert_int_equal(chunk_offsets(&b, off, 16), 5);
	b.p[off[1] + 6] ^= 0x40;	/* comp_len now points far past EOF */
	assert_int_equal(read_mem(&b, &s, &st, msg, sizeof(msg)), 1);
	assert_int_equal(s.n, 40000);
	snprintf(want, sizeof(want), "offset %zu: bad chunk", off[1]);
	assert_non_null(strstr(s.warn[0], want));
	assert_int_equal(st.truncated, 0);
	free(s.ev);
	free(b.p);
}

static void zeroed_chunks_resync(void **state)
{
	struct buf b = make_trace(50000, 10000, NULL);
	size_t off[16];
	struct seen s = { 0 };
	struct pm_trace_stats st = { 0 };
	char msg[256];

	(void)state;
	assert_int_equal(chunk_offsets(&b, off, 16), 5);
	memset(b.p + off[1], 0, off[3] - off[1]);	/* chunks 1 and 2 gone */
	assert_int_equal(read_mem(&b, &s, &st, msg, sizeof(msg)), 1);
	assert_int_equal(s.n, 30000);
	assert_int_equal(st.skipped_bytes, off[3] - off[1]);
	free(s.ev);
	free(b.p);
}

static void truncated_tail(void **state)
{
	struct buf b = make_trace(50000, 10000, NULL);
	size_t off[16];
	struct seen s = { 0 };
	struct pm_trace_stats st = { 0 };
	char msg[256], want[80];

	(void)state;
	assert_int_equal(chunk_offsets(&b, off, 16), 5);
	b.n = off[4] + 50;
	assert_int_equal(read_mem(&b, &s, &st, msg, sizeof(msg)), 1);
	assert_int_equal(s.n, 40000);
	assert_int_equal(st.truncated, 1);
	snprintf(want, sizeof(want), "offset %zu: truncated chunk at end of file, 50 bytes skipped", off[4]);
	assert_string_equal(s.warn[0], want);
	free(s.ev);
	/* a tail shorter than a chunk header */
	memset(&s, 0, sizeof(s));
	b.n = off[4] + 3;
	assert_int_equal(read_mem(&b, &s, &st, msg, sizeof(msg)), 1);
	assert_int_equal(s.n, 40000);
	free(s.ev);
	free(b.p);
}

static void header_errors(void **state)
{
	struct buf b = make_trace(100, 0, NULL);
	struct seen s = { 0 };
	char msg[256];
	uint8_t rnd[4096];

	(void)state;
	assert_int_equal(read_mem(&(struct buf){ b.p, 0 }, &s, NULL, msg, sizeof(msg)), -ENODATA);
	assert_string_equal(msg, "empty file: no trace header");
	assert_int_equal(read_mem(&(struct buf){ b.p, 12 }, &s, NULL, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "truncated header"));
	b.p[8] = 2;	/* major 2 */
	assert_int_equal(read_mem(&b, &s, NULL, msg, sizeof(msg)), -EPROTONOSUPPORT);
	snprintf((char *)rnd, sizeof(rnd), "trace format version 2.%u is not supported", PM_TRACE_MINOR);
	assert_non_null(strstr(msg, (char *)rnd));
	b.p[8] = PM_TRACE_MAJOR;
	b.p[PM_TRACE_HDR_FIXED + 7] ^= 1;	/* inside the host name */
	assert_int_equal(read_mem(&b, &s, NULL, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "corrupt header (CRC mismatch)");
	memset(b.p, 0, PM_TRACE_HDR_FIXED);
	assert_int_equal(read_mem(&b, &s, NULL, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "not a privmem trace (bad magic at offset 0)");
	srand(3);
	for (size_t i = 0; i < sizeof(rnd); i++)
		rnd[i] = (uint8_t)rand();
	assert_int_equal(read_mem(&(struct buf){ rnd, sizeof(rnd) }, &s, NULL, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(s.n, 0);
	free(b.p);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A newer writer's record type is skipped by its length; the rest is read. */
/* Appends a chunk of hand-made records, as privmem-trace(5) lays them out. */
static void append_chunk(struct buf *b, const uint8_t *raw, size_t n, unsigned nrec)
{
	uint8_t chunk[PM_TRACE_CHUNK_HDR + 512];
	uLongf clen = sizeof(chunk) - PM_TRACE_CHUNK_HDR;
	uint32_t crc;

	assert_int_equal(compress2(chunk + PM_TRACE_CHUNK_HDR, &clen, raw, n, 6), Z_OK);
	memset(chunk, 0, PM_TRACE_CHUNK_HDR);
	put32(chunk, PM_TRACE_CHUNK_MAGIC);
	put32(chunk + 4, (uint32_t)clen);
	put32(chunk + 8, (uint32_t)n);
	put32(chunk + 12, nrec);
	crc = crc32(0, chunk, 32);
	crc = crc32(crc, chunk + PM_TRACE_CHUNK_HDR, (uInt)clen);
	put32(chunk + 32, crc);
	b->p = realloc(b->p, b->n + PM_TRACE_CHUNK_HDR + clen);
	memcpy(b->p + b->n, chunk, PM_TRACE_CHUNK_HDR + clen);
	b->n += PM_TRACE_CHUNK_HDR + clen;
}

/*
 * vminfo across versions: a 1.1 record (no name) reads with an empty name,
 * a 1.2 one with its name, and one from a later minor version (fields
 * after the name) still reads: readers stop at what they know.
 */
static void vminfo_versions(void **state)
{
	struct buf b = make_trace(10, 0, NULL);
	static const uint8_t raw[] = {
		/* 1.1: id, pid 7, cgroup id 9, first 5, comm "qemu", cgroup "/a" */
		18, 8 + 3 + 5 + 3, 1, 0, 0, 0, 0, 0, 0, 0, 7, 9, 5, 4, 'q', 'e', 'm', 'u', 2, '/', 'a',
		/* 1.2: ... then name "web-01", source 1 (libvirt) */
		18, 8 + 3 + 5 + 3 + 7 + 1, 2, 0, 0, 0, 0, 0, 0, 0, 7, 9, 5, 4, 'q', 'e', 'm', 'u', 2, '/', 'a',
		6, 'w', 'e', 'b', '-', '0', '1', 1,
		/* a later minor version: three bytes more */
		18, 8 + 3 + 5 + 3 + 4 + 1 + 3, 3, 0, 0, 0, 0, 0, 0, 0, 7, 9, 5, 4, 'q', 'e', 'm', 'u', 2, '/', 'a',
		3, 'd', 'b', '7', 2, 0xaa, 0xbb, 0xcc,
	};
	struct seen s = { 0 };
	char msg[256];

	(void)state;
	append_chunk(&b, raw, sizeof(raw), 3);
	assert_int_equal(read_mem(&b, &s, NULL, msg, sizeof(msg)), 0);
	assert_int_equal(s.nwarn, 0);
	assert_int_equal(s.nvi, 3);
	assert_int_equal(s.vi[0].vm, 1);
	assert_string_equal(s.vi[0].comm, "qemu");
	assert_string_equal(s.vi[0].cgroup, "/a");
	assert_string_equal(s.vi[0].name, "");
	assert_string_equal(s.vi[1].name, "web-01");
	assert_int_equal(s.vi[1].name_src, 1);
	assert_string_equal(s.vi[2].name, "db7");
	assert_int_equal(s.vi[2].name_src, 2);
	assert_int_equal(s.vi[2].pid, 7);
	free(s.ev);
	free(b.p);
}

static void unknown_record_skipped(void **state)
{
	struct buf b = make_trace(1000, 0, NULL);
	static const uint8_t raw[] = { 99, 3, 'a', 'b', 'c', 17, 2, 5, 42 };
	struct seen s = { 0 };
	struct pm_trace_stats st = { 0 };
	char msg[256];

	(void)state;
	append_chunk(&b, raw, sizeof(raw), 2);
	assert_int_equal(read_mem(&b, &s, &st, msg, sizeof(msg)), 0);
	assert_int_equal(s.n, 1000);
	assert_int_equal(st.unknown_records, 1);
	assert_int_equal(s.lost, 1);
	assert_int_equal(s.last_lost, 42);
	assert_int_equal(s.nwarn, 1);
	assert_non_null(strstr(s.warn[0], "record type 99 unknown to this reader"));
	free(s.ev);
	free(b.p);
}

/* Any damage anywhere: a result or an error, never a crash (ASan/UBSan build). */
static void random_damage(void **state)
{
	struct buf b = make_trace(20000, 2000, NULL);
	uint8_t *copy = malloc(b.n);
	char msg[256];

	(void)state;
	srand(5);
	for (int round = 0; round < 3000; round++) {
		struct seen s = { 0 };
		int flips = 1 + rand() % 8;

		memcpy(copy, b.p, b.n);
		for (int i = 0; i < flips; i++)
			copy[(size_t)rand() % b.n] ^= (uint8_t)(1 + rand() % 255);
		read_mem(&(struct buf){ copy, b.n - (size_t)(rand() % 3 ? 0 : rand() % 500) }, &s, NULL, msg,
			 sizeof(msg));
		free(s.ev);
	}
	free(copy);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(varints),
		cmocka_unit_test(round_trip_all_fields),
		cmocka_unit_test(header_round_trip),
		cmocka_unit_test(replay_equals_live),
		cmocka_unit_test(gmem_close_round_trip),
		cmocka_unit_test(bytes_per_event),
		cmocka_unit_test(corrupt_middle_chunk),
		cmocka_unit_test(corrupt_chunk_length),
		cmocka_unit_test(zeroed_chunks_resync),
		cmocka_unit_test(truncated_tail),
		cmocka_unit_test(header_errors),
		cmocka_unit_test(unknown_record_skipped),
		cmocka_unit_test(vminfo_versions),
		cmocka_unit_test(random_damage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
