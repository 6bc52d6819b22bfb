// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privmemd's Prometheus exposition, rendered from the books (state in,
 * text out; the server is metrics_http.c).  Names follow the Prometheus conventions
 * (base units, counters end in _total, histograms in _seconds/_bytes); the
 * log2 histograms become cumulative buckets whose `le` is the largest value
 * a slot can hold, so nothing is rounded into the wrong bucket.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"
#include "vmname.h"
#include "util.h"

/* Fixed bucket ranges, so a series keeps the same buckets for its whole life. */
#define LAT_LO	9	/* le = 1.023us */
#define LAT_HI	35	/* le = 68.7s */
#define SIZE_LO	12	/* le = 8191 B: one 4 KiB page */
#define SIZE_HI	30	/* le = 2 GiB - 1 */
#define LABELS_MAX 980	/* vm + pid + comm + name (128) + cgroup (256 bytes), escaped at most 2x */

struct obuf {
	char *p;
	size_t len, cap, max;
	bool full, oom;
};

static void ob_printf(struct obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ob_printf(struct obuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	while (!b->full) {
		size_t room = b->cap - b->len, need, ncap;
		char *np;

		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->full = true;
			break;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		need = b->len + (size_t)n + 1;
		if (need > b->max) {
			b->full = true;
			break;
		}
		for (ncap = b->cap * 2; ncap < need; ncap *= 2)
			;
		if (ncap > b->max)
			ncap = b->max;
		np = realloc(b->p, ncap);
		if (!np) {
			b->full = b->oom = true;
			break;
		}
		b->p = np;
		b->cap = ncap;
	}
	b->p[b->len] = '\0';
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0 && s[0] >= 0xc2)
		n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((s[0] & 0xf8) == 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

size_t pm_metrics_escape(char *dst, size_t cap, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0;

	if (!cap)
		return 0;
	while (*s) {
		char esc[2] = { 0, 0 };
		size_t n = utf8_len(s), need;

		if (*s == '\\' || *s == '"')
			esc[0] = '\\', esc[1] = (char)*s;
		else if (*s == '\n')
			esc[0] = '\\', esc[1] = 'n';
		need = esc[0] ? 2 : n ? n : 1;
		if (o + need >= cap)
			break;
		if (esc[0]) {
			memcpy(dst + o, esc, 2);
		} else if (!n || *s < 0x20 || *s == 0x7f) {
			dst[o] = '?';	/* not UTF-8, or a control character */
			n = 1;
		} else {
			memcpy(dst + o, s, n);
		}
		o += need;
		s += n ? n : 1;
	}
	dst[o] = '\0';
	return o;
}

struct rctx {
	struct obuf b;
	enum pm_metrics_format fmt;
	struct pm_vm **vms;
	char (*labels)[LABELS_MAX];
	unsigned n;
};

/* # HELP / # TYPE.  OpenMetrics names a counter family without its _total. */
static void family(struct rctx *r, const char *name, const char *type, const char *help)
{
	size_t len = strlen(name);

	if (r->fmt == PM_METRICS_OPENMETRICS && !strcmp(type, "counter") && len > 6 &&
	    !strcmp(name + len - 6, "_total"))
		len -= 6;
	ob_printf(&r->b, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)len, name, help, (int)len, name, type);
}

static void vm_sample(struct rctx *r, const char *name, unsigned i, const char *extra, uint64_t v)
{
	ob_printf(&r->b, "%s{%s%s%s} %llu\n", name, r->labels[i], extra ? "," : "", extra ? extra : "",
		  (unsigned long long)v);
}

/* Cumulative buckets from a log2 histogram; scale_ns: the values are ns, shown in seconds. */
static void vm_hist(struct rctx *r, const char *name, unsigned i, const char *extra, const struct pm_hist *h,
		    unsigned lo, unsigned hi, bool scale_ns)
{
	const char *sep = extra ? "," : "", *x = extra ? extra : "";
	uint64_t cum = 0, total = 0;

	for (unsigned k = 0; k < PM_HIST_SLOTS; k++)
		total += h->slot[k];
	for (unsigned k = 0; k < lo; k++)
		cum += h->slot[k];
	for (unsigned k = lo; k <= hi; k++) {
		uint64_t top = (2ull << k) - 1;

		cum += h->slot[k];
		if (scale_ns)
			ob_printf(&r->b, "%s_bucket{%s%s%s,le=\"%.12g\"} %llu\n", name, r->labels[i], sep, x,
				  (double)top / 1e9, (unsigned long long)cum);
		else
			ob_printf(&r->b, "%s_bucket{%s%s%s,le=\"%llu\"} %llu\n", name, r->labels[i], sep, x,
				  (unsigned long long)top, (unsigned long long)cum);
	}
	ob_printf(&r->b, "%s_bucket{%s%s%s,le=\"+Inf\"} %llu\n", name, r->labels[i], sep, x,
		  (unsigned long long)total);
	if (scale_ns)
		ob_printf(&r->b, "%s_sum{%s%s%s} %.9f\n", name, r->labels[i], sep, x, (double)h->sum / 1e9);
	else
		ob_printf(&r->b, "%s_sum{%s%s%s} %llu\n", name, r->labels[i], sep, x, (unsigned long long)h->sum);
	ob_printf(&r->b, "%s_count{%s%s%s} %llu\n", name, r->labels[i], sep, x, (unsigned long long)total);
}

static const char *const dir_label[3] = { NULL, "direction=\"to_private\"", "direction=\"to_shared\"" };

#define PER_DIR(r, name, field)							\
	for (unsigned i = 0; i < (r)->n; i++)					\
		for (int d = PM_TO_PRIVATE; d <= PM_TO_SHARED; d++)		\
			vm_sample(r, name, i, dir_label[d], (r)->vms[i]->dir[d].field)

#define PER_VM(r, name, expr)							\
	for (unsigned i = 0; i < (r)->n; i++) {					\
		const struct pm_vm *vm = (r)->vms[i];				\
		vm_sample(r, name, i, NULL, (expr));				\
	}

static void render_vms(struct rctx *r)
{
	char x[64], nb[16];

	family(r, "privmem_vm_running", "gauge", "1 while the VM's VMM runs, 0 once it is gone.");
	PER_VM(r, "privmem_vm_running", vm->destroyed ? 0 : 1);
	family(r, "privmem_guest_memory_bytes", "gauge", "Guest memory: sum of the sizes of the VM's open guest_memfds.");
	PER_VM(r, "privmem_guest_memory_bytes", vm->guest_bytes);
	family(r, "privmem_shared_memory_bytes", "gauge",
	       "Guest memory currently shared with the host: guest memory minus what KVM holds private.");
	PER_VM(r, "privmem_shared_memory_bytes", pm_vm_shared_bytes(vm));
	family(r, "privmem_shared_memory_inexact", "gauge",
	       "1 once a conversion of the VM could not be booked (memory too fragmented): shared bytes are inexact.");
	PER_VM(r, "privmem_shared_memory_inexact", vm->shared_inexact ? 1 : 0);

	family(r, "privmem_requests_total", "counter",
	       "Conversions the guest asked for, by source (MAP_GPA_RANGE hypercall or memory-fault exit).");
	for (unsigned i = 0; i < r->n; i++) {
		vm_sample(r, "privmem_requests_total", i, "source=\"hypercall\"", r->vms[i]->req_hypercall);
		vm_sample(r, "privmem_requests_total", i, "source=\"memory_fault\"", r->vms[i]->req_fault);
	}
	family(r, "privmem_attempts_total", "counter", "KVM_SET_MEMORY_ATTRIBUTES calls by the VMM, by direction.");
	PER_DIR(r, "privmem_attempts_total", attempts);
	family(r, "privmem_attempt_bytes_total", "counter", "Bytes covered by KVM_SET_MEMORY_ATTRIBUTES calls.");
	PER_DIR(r, "privmem_attempt_bytes_total", attempt_bytes);
	family(r, "privmem_conversions_total", "counter", "Conversions (attempts that succeeded), by direction.");
	PER_DIR(r, "privmem_conversions_total", conversions);
	family(r, "privmem_conversion_bytes_total", "counter", "Bytes converted, by direction.");
	PER_DIR(r, "privmem_conversion_bytes_total", bytes);

	family(r, "privmem_attempt_errors_total", "counter", "Failed KVM_SET_MEMORY_ATTRIBUTES calls, by errno.");
	for (unsigned i = 0; i < r->n; i++)
		for (int e = 1; e < PM_ERRNO_SLOTS; e++)
			if (r->vms[i]->attr_errno[e]) {
				snprintf(x, sizeof(x), "errno=\"%s\"", pm_errno_name(e, nb, sizeof(nb)));
				vm_sample(r, "privmem_attempt_errors_total", i, x, r->vms[i]->attr_errno[e]);
			}
	family(r, "privmem_discards_total", "counter", "PUNCH_HOLE calls on the VM's guest_memfd.");
	PER_VM(r, "privmem_discards_total", vm->discards);
	family(r, "privmem_discard_bytes_total", "counter", "Bytes punched out of the VM's guest_memfd.");
	PER_VM(r, "privmem_discard_bytes_total", vm->discard_bytes);
	family(r, "privmem_discard_errors_total", "counter", "PUNCH_HOLE calls that failed.");
	PER_VM(r, "privmem_discard_errors_total", vm->discard_errors);
	family(r, "privmem_denials_total", "counter", "Attempts privmem refused (policy mode enforce).");
	PER_VM(r, "privmem_denials_total", vm->denied);
	family(r, "privmem_would_denials_total", "counter", "Attempts privmem would have refused (policy mode audit).");
	PER_VM(r, "privmem_would_denials_total", vm->would_deny);
	family(r, "privmem_denials_by_reason_total", "counter",
	       "Denied and would-deny attempts, by verdict and the limit that decided them.");
	for (unsigned i = 0; i < r->n; i++)
		for (int w = 0; w < 2; w++)
			for (int k = 1; k < PM_VERDICTS; k++)
				if (r->vms[i]->deny_reason[w][k]) {
					snprintf(x, sizeof(x), "verdict=\"%s\",reason=\"%s\"", w ? "would_deny" : "denied",
						 pm_deny_reason(k));
					vm_sample(r, "privmem_denials_by_reason_total", i, x, r->vms[i]->deny_reason[w][k]);
				}
	family(r, "privmem_denials_by_rule_total", "counter",
	       "Denied and would-deny attempts, by verdict and policy rule (0: the defaults).");
	for (unsigned i = 0; i < r->n; i++)
		for (int w = 0; w < 2; w++)
			for (int k = 0; k < PM_RULE_SLOTS; k++)
				if (r->vms[i]->deny_rule[w][k]) {
					snprintf(x, sizeof(x), "verdict=\"%s\",rule=\"%d\"", w ? "would_deny" : "denied", k);
					vm_sample(r, "privmem_denials_by_rule_total", i, x, r->vms[i]->deny_rule[w][k]);
				}
	family(r, "privmem_vm_events_lost_total", "counter", "Events of this VM the ring buffer dropped.");
	PER_VM(r, "privmem_vm_events_lost_total", vm->k.lost);

	family(r, "privmem_kvm_exits_total", "counter", "KVM_RUN returns to the VMM, by exit reason.");
	for (unsigned i = 0; i < r->n; i++)
		for (unsigned e = 0; e < PM_EXIT_REASONS; e++)
			if (r->vms[i]->k.exits[e]) {
				const char *rn = pm_exit_reason_name(e);

				if (!strcmp(rn, "OTHER"))
					snprintf(x, sizeof(x), "reason=\"%u\"", e);
				else
					snprintf(x, sizeof(x), "reason=\"%s\"", rn);
				vm_sample(r, "privmem_kvm_exits_total", i, x, r->vms[i]->k.exits[e]);
			}
	family(r, "privmem_rmp_faults_total", "counter", "SEV-SNP RMP faults (kvm_rmp_fault).");
	PER_VM(r, "privmem_rmp_faults_total", vm->k.rmp_faults);
	family(r, "privmem_private_page_faults_total", "counter", "Guest page faults on private memory.");
	PER_VM(r, "privmem_private_page_faults_total", vm->k.private_faults);

	family(r, "privmem_conversion_size_bytes", "histogram", "Sizes of conversions, by direction.");
	for (unsigned i = 0; i < r->n; i++)
		for (int d = PM_TO_PRIVATE; d <= PM_TO_SHARED; d++)
			vm_hist(r, "privmem_conversion_size_bytes", i, dir_label[d], &r->vms[i]->dir[d].size_hist,
				SIZE_LO, SIZE_HI, false);
	family(r, "privmem_resume_latency_seconds", "histogram",
	       "From a guest's request to its vCPU's next KVM_RUN.");
	for (unsigned i = 0; i < r->n; i++)
		vm_hist(r, "privmem_resume_latency_seconds", i, NULL, &r->vms[i]->resume_lat, LAT_LO, LAT_HI, true);
	family(r, "privmem_decide_latency_seconds", "histogram",
	       "From a guest's request to the VMM's KVM_SET_MEMORY_ATTRIBUTES.");
	for (unsigned i = 0; i < r->n; i++)
		vm_hist(r, "privmem_decide_latency_seconds", i, NULL, &r->vms[i]->decide_lat, LAT_LO, LAT_HI, true);
}

static void render_host(struct rctx *r, const struct pm_metrics_view *v, unsigned omitted)
{
	static const char *const modes[] = { "none", "off", "audit", "enforce" };
	const char *mode = v->policy_mode ? v->policy_mode : "none";
	unsigned running = 0, destroyed = 0, live = 0;
	char esc[256];
	bool known = false;

	if (v->st) {
		struct pm_vms all = pm_state_vms(v->st);
		struct pm_vm *vm;

		pm_vms_each(&all, vm)
			vm->destroyed ? destroyed++ : running++;
		pm_vms_free(&all);
	}
	family(r, "privmem_vms", "gauge", "VMs in privmemd's books, by state.");
	ob_printf(&r->b, "privmem_vms{state=\"running\"} %u\nprivmem_vms{state=\"destroyed\"} %u\n", running, destroyed);
	family(r, "privmem_vms_forgotten_total", "counter",
	       "Destroyed VMs removed from the books, past --keep-destroyed or --max-destroyed.");
	ob_printf(&r->b, "privmem_vms_forgotten_total %llu\n", (unsigned long long)(v->st ? v->st->forgotten : 0));
	family(r, "privmem_keep_destroyed_seconds", "gauge", "How long a destroyed VM stays in the books.");
	ob_printf(&r->b, "privmem_keep_destroyed_seconds %llu\n", (unsigned long long)v->keep_destroyed_s);
	family(r, "privmem_max_destroyed_vms", "gauge", "Most destroyed VMs kept in the books; the oldest go first.");
	ob_printf(&r->b, "privmem_max_destroyed_vms %u\n", v->max_destroyed);
	family(r, "privmem_events_total", "counter", "Events privmemd has handled.");
	ob_printf(&r->b, "privmem_events_total %llu\n", (unsigned long long)(v->st ? v->st->events : 0));
	family(r, "privmem_bad_events_total", "counter", "Undecodable records.");
	ob_printf(&r->b, "privmem_bad_events_total %llu\n", (unsigned long long)(v->st ? v->st->bad_events : 0));
	family(r, "privmem_events_lost_total", "counter", "Events the ring buffer dropped: counts are incomplete.");
	ob_printf(&r->b, "privmem_events_lost_total %llu\n", (unsigned long long)v->lost);

	family(r, "privmem_hook_live", "gauge", "1 when the hook is attached.");
	for (unsigned i = 0; i < v->nhooks; i++) {
		if (!v->hooks[i].name)
			continue;
		live += v->hooks[i].state == PM_HOOK_LIVE;
		pm_metrics_escape(esc, sizeof(esc), v->hooks[i].name);
		ob_printf(&r->b, "privmem_hook_live{hook=\"%s\"} %d\n", esc, v->hooks[i].state == PM_HOOK_LIVE);
	}
	family(r, "privmem_hook_silent", "gauge",
	       "1 when the hook is attached but misses calls its sibling hooks see (the sibling counts them).");
	for (unsigned i = 0; i < v->nhooks; i++) {
		if (!v->hooks[i].name)
			continue;
		pm_metrics_escape(esc, sizeof(esc), v->hooks[i].name);
		ob_printf(&r->b, "privmem_hook_silent{hook=\"%s\"} %d\n", esc, v->hooks[i].state == PM_HOOK_SILENT);
	}
	family(r, "privmem_hook_taxes_all_processes", "gauge",
	       "1 when the hook is live and taxes every syscall of every process.");
	for (unsigned i = 0; i < v->nhooks; i++) {
		if (!v->hooks[i].name)
			continue;
		pm_metrics_escape(esc, sizeof(esc), v->hooks[i].name);
		ob_printf(&r->b, "privmem_hook_taxes_all_processes{hook=\"%s\"} %d\n", esc,
			  v->hooks[i].state == PM_HOOK_LIVE && v->hooks[i].taxes_all);
	}
	family(r, "privmem_hook_hits_total", "counter", "Times the hook found relevant work.");
	for (unsigned i = 0; i < v->nhooks; i++) {
		if (!v->hooks[i].name)
			continue;
		pm_metrics_escape(esc, sizeof(esc), v->hooks[i].name);
		ob_printf(&r->b, "privmem_hook_hits_total{hook=\"%s\"} %llu\n", esc,
			  (unsigned long long)v->hooks[i].hits);
	}
	family(r, "privmem_hooks_live", "gauge", "Hooks attached.");
	ob_printf(&r->b, "privmem_hooks_live %u\n", live);

	family(r, "privmem_policy_mode", "gauge", "1 for the policy mode in force (none: no policy loaded).");
	for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		known |= !strcmp(mode, modes[i]);
		ob_printf(&r->b, "privmem_policy_mode{mode=\"%s\"} %d\n", modes[i], !strcmp(mode, modes[i]));
	}
	if (!known) {
		pm_metrics_escape(esc, sizeof(esc), mode);
		ob_printf(&r->b, "privmem_policy_mode{mode=\"%s\"} 1\n", esc);
	}
	family(r, "privmem_metrics_vms_omitted", "gauge", "VMs left out of this response to bound its size.");
	ob_printf(&r->b, "privmem_metrics_vms_omitted %u\n", omitted);
}

/* Running VMs first, then the most recently active. */
static int vm_rank(const void *a, const void *b)
{
	const struct pm_vm *x = *(struct pm_vm *const *)a, *y = *(struct pm_vm *const *)b;

	if (x->destroyed != y->destroyed)
		return x->destroyed ? 1 : -1;
	if (x->last_ns != y->last_ns)
		return x->last_ns > y->last_ns ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

char *pm_metrics_render(const struct pm_metrics_view *v, enum pm_metrics_format fmt, size_t max, size_t *len)
{
	struct rctx r = { .fmt = fmt };
	struct pm_vms all = { 0 };
	unsigned total = 0, keep;
	char *out = NULL;

	if (max < 4096)
		max = 4096;
	if (v->st && v->st->nvms) {
		all = pm_state_vms(v->st);
		r.vms = all.v;
		r.labels = calloc(v->st->nvms, sizeof(*r.labels));
		if (all.err || !r.labels)
			goto out;
		total = all.n;
		qsort(r.vms, total, sizeof(*r.vms), vm_rank);
		for (unsigned i = 0; i < total; i++) {
			const struct pm_vm *vm = r.vms[i];
			char comm[2 * PM_COMM_LEN + 1], cg[2 * sizeof(vm->cgroup) + 1];
			char comm_src[PM_COMM_LEN + 1], name[2 * sizeof(vm->name) + 1];

			memcpy(comm_src, vm->comm, PM_COMM_LEN);
			comm_src[PM_COMM_LEN] = '\0';
			pm_metrics_escape(comm, sizeof(comm), comm_src);
			pm_metrics_escape(cg, sizeof(cg), vm->cgroup);
			pm_metrics_escape(name, sizeof(name), pm_vm_name(vm));
			snprintf(r.labels[i], LABELS_MAX, "vm=\"%016llx\",name=\"%s\",pid=\"%u\",comm=\"%s\",cgroup=\"%s\"",
				 (unsigned long long)vm->id, name, vm->pid, comm, cg);
		}
	}
	/* Too big: keep halving the VMs shown until the text fits. */
	for (keep = total;; keep /= 2) {
		free(r.b.p);
		r.b = (struct obuf){ .cap = 65536, .max = max };
		r.b.p = malloc(r.b.cap);
		if (!r.b.p)
			goto out;
		r.b.p[0] = '\0';
		r.n = keep;
		render_vms(&r);
		render_host(&r, v, total - keep);
		if (fmt == PM_METRICS_OPENMETRICS)
			ob_printf(&r.b, "# EOF\n");
		if (r.b.oom)
			goto out;
		if (!r.b.full)
			break;
		if (!keep) {
			r.b.len = 0;	/* even the host part does not fit: say nothing wrong */
			r.b.p[0] = '\0';
			break;
		}
	}
	out = r.b.p;
	r.b.p = NULL;
	*len = r.b.len;
out:
	free(r.b.p);
	pm_vms_free(&all);
	free(r.labels);
	return out;
}
