/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The flight-recorder trace format (privmem-trace(5)): a header, then
 * self-contained chunks (length, CRC32, zlib-compressed records). Pure
 * userspace: no BPF, so replay runs on any machine, without root.
 */
#ifndef PRIVMEM_TRACE_H
#define PRIVMEM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "hooks.h"
#include "privmem/events.h"

#define PM_TRACE_MAGIC		"PRIVMEMT"	/* 8 bytes, no NUL */
#define PM_TRACE_NAME_LEN	128	/* = PM_VM_NAME_LEN */
#define PM_TRACE_MAJOR		1
#define PM_TRACE_MINOR		4	/* 1: policy records; 2: VM names in vminfo; 3: gap records; 4: gmem_close */
#define PM_TRACE_CHUNK_MAGIC	0x4b434d50u	/* "PMCK" little-endian */
#define PM_TRACE_HDR_FIXED	20		/* magic, major, minor, body length, body CRC */
#define PM_TRACE_CHUNK_HDR	36
#define PM_TRACE_FLUSH_NS	1000000000ull	/* a chunk is written at least this often */
#define PM_TRACE_CHUNK_RAW	(1u << 20)	/* ... or once its records reach this size */
#define PM_TRACE_RAW_LIMIT	(64u << 20)	/* readers refuse chunks claiming more */
#define PM_TRACE_MAX_HOOKS	32

/* Record types: 1..15 are struct pm_event (type = enum pm_event_type). */
enum pm_trace_rec {
	PM_TR_KSTATS = 16,	/* per-VM in-kernel aggregates, cumulative */
	PM_TR_LOST = 17,	/* total ring-buffer drops so far */
	PM_TR_VMINFO = 18,	/* a VM's identity: cgroup path, comm, pid */
	PM_TR_VM_GONE = 19,	/* the daemon found the VMM gone without an event */
	PM_TR_HOOK_HITS = 20,	/* hits per hook, in the header's hook order */
	PM_TR_POLICY = 22,	/* the policy text in force from now on (a reload) */
	PM_TR_GAP = 23,		/* the recorder could not write for a while (1.3) */
};
#define PM_TRACE_GAP_ERRS	4	/* distinct errnos a gap record names */

/* A hole in a recording: nothing between from_ns and to_ns was written. */
struct pm_trace_gap {
	uint64_t from_ns, to_ns;
	uint64_t events;			/* events that fell in it */
	unsigned nerrs;
	int errs[PM_TRACE_GAP_ERRS];		/* positive errnos, the first one first */
};
#define PM_TRACE_POLICY_MAX	(256u << 10)	/* longer policy texts are cut */

/* Header header fields ("tags"), each u16 tag, u32 length, bytes. */
enum pm_trace_tag {
	PM_TT_HOST = 1,
	PM_TT_KERNEL = 2,
	PM_TT_VERSION = 3,	/* privmem version that wrote the file */
	PM_TT_WALL_OFFSET = 4,	/* i64: CLOCK_REALTIME - CLOCK_MONOTONIC, ns */
	PM_TT_START = 5,	/* u64: CLOCK_MONOTONIC ns when the file was opened */
	PM_TT_POLICY = 6,	/* the active policy, as text ("" for none) */
	PM_TT_HOOK = 7,		/* u8 state, u8 taxes_all, name NUL covers NUL reason */
	PM_TT_WRITER = 8,	/* "privmemd" or "privmem record" */
	PM_TT_SEQ = 9,		/* u32: file number within a recording */
};

struct pm_trace_info {
	uint16_t major, minor;
	char host[256];
	char kernel[256];
	char version[64];
	char writer[32];
	int64_t wall_offset_ns;
	uint64_t start_ns;
	uint32_t seq;
	char *policy;		/* malloc'ed, may be NULL for none */
	struct pm_hook_status hooks[PM_TRACE_MAX_HOOKS];	/* name/covers malloc'ed by readers */
	unsigned nhooks;
};

/* Fills host, kernel, version, clocks; the caller sets writer, policy, hooks. */
void pm_trace_info_local(struct pm_trace_info *info, const char *writer);
void pm_trace_info_free(struct pm_trace_info *info);

/* --- writing --- */
struct pm_trace_writer;

/* Writes the header to fd (the writer owns fd from here). 0 or -errno. */
int pm_tw_open(struct pm_trace_writer **out, int fd, const struct pm_trace_info *info);
void pm_tw_event(struct pm_trace_writer *w, const struct pm_event *e);
void pm_tw_kstats(struct pm_trace_writer *w, uint64_t vm, uint64_t ts, const struct pm_vm_kstats *k);
void pm_tw_lost(struct pm_trace_writer *w, uint64_t ts, uint64_t lost);
void pm_tw_vminfo(struct pm_trace_writer *w, uint64_t vm, uint32_t pid, uint64_t cgroup_id,
		  uint64_t first_ns, const char *comm, const char *cgroup, const char *name, unsigned name_src);
void pm_tw_vm_gone(struct pm_trace_writer *w, uint64_t vm, uint64_t ts);
/* hits[i] for the i-th hook of the header. */
void pm_tw_hook_hits(struct pm_trace_writer *w, const uint64_t *hits, unsigned n);
void pm_tw_policy(struct pm_trace_writer *w, uint64_t ts, const char *text);
void pm_tw_gap(struct pm_trace_writer *w, const struct pm_trace_gap *g);
/* The first error the writer met (a failed chunk write, out of memory), or 0. */
int pm_tw_error(const struct pm_trace_writer *w);
/* Flushes and fsyncs the file. 0 or -errno. */
int pm_tw_sync(struct pm_trace_writer *w);
/* Writes the pending chunk, if any. 0 or the first write error (-errno). */
int pm_tw_flush(struct pm_trace_writer *w);
/* Flushes when the pending chunk is older than PM_TRACE_FLUSH_NS at now_ns. */
int pm_tw_tick(struct pm_trace_writer *w, uint64_t now_ns);
uint64_t pm_tw_bytes(const struct pm_trace_writer *w);		/* written to the file */
uint64_t pm_tw_records(const struct pm_trace_writer *w);
uint64_t pm_tw_events(const struct pm_trace_writer *w);
/* Flushes, closes fd, frees. 0 or the first error seen (-errno). */
int pm_tw_close(struct pm_trace_writer *w);

/* --- reading --- */
struct pm_trace_vminfo {
	uint64_t vm, cgroup_id, first_ns;
	uint32_t pid;
	char comm[PM_COMM_LEN];
	char cgroup[256];
	char name[PM_TRACE_NAME_LEN];	/* "" in files before 1.2 */
	uint8_t name_src;		/* enum pm_name_source */
};

struct pm_trace_ops {
	void (*event)(void *ctx, const struct pm_event *e);
	void (*kstats)(void *ctx, uint64_t vm, uint64_t ts, const struct pm_vm_kstats *k);
	void (*lost)(void *ctx, uint64_t ts, uint64_t lost);
	void (*vminfo)(void *ctx, const struct pm_trace_vminfo *vi);
	void (*vm_gone)(void *ctx, uint64_t vm, uint64_t ts);
	void (*hook_hits)(void *ctx, const uint64_t *hits, unsigned n);
	void (*policy)(void *ctx, uint64_t ts, const char *text, size_t len);
	void (*gap)(void *ctx, const struct pm_trace_gap *g);
	/* One line, no newline: "offset N: ...". */
	void (*warn)(void *ctx, const char *msg);
	/* May skip a chunk by its [min_ts, max_ts] without decompressing it. */
	bool (*want_chunk)(void *ctx, uint64_t min_ts, uint64_t max_ts);
};

struct pm_trace_stats {
	uint64_t chunks;		/* read and decoded */
	uint64_t bad_chunks;		/* bad CRC, bad header, undecodable */
	uint64_t truncated;		/* 1 if the file ends inside a chunk */
	uint64_t skipped_bytes;		/* bytes not read because of the above */
	uint64_t records, events;
	uint64_t unknown_records;	/* newer record types, skipped by length */
	uint64_t raw_bytes, file_bytes;
};

struct pm_trace;

/* Maps the file and checks its header. -errno, msg says why in one line. */
int pm_trace_open(struct pm_trace **out, const char *path, char *msg, size_t len);
/* Same, over a caller's buffer (kept until pm_trace_close). */
int pm_trace_open_mem(struct pm_trace **out, const void *buf, size_t size, char *msg, size_t len);
const struct pm_trace_info *pm_trace_get_info(const struct pm_trace *t);
/* Decodes every chunk in order. 0 when all was read, 1 when something was skipped. */
int pm_trace_read(struct pm_trace *t, const struct pm_trace_ops *ops, void *ctx, struct pm_trace_stats *st);
/* Smallest and largest timestamp over the valid chunks' headers; -ENODATA if none. */
int pm_trace_span(struct pm_trace *t, uint64_t *min_ts, uint64_t *max_ts);
void pm_trace_close(struct pm_trace *t);

/* Varints (LEB128) and zigzag, exposed for the tests. */
size_t pm_varint_put(uint8_t *p, uint64_t v);
/* Bytes consumed, 0 if the buffer ends first or the value overflows 64 bits. */
size_t pm_varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v);

#endif
