// SPDX-License-Identifier: GPL-2.0
/*
 * privmem capture: sees what guests ask for (memory-fault and MAP_GPA_RANGE
 * exits), what VMMs decide (KVM_SET_MEMORY_ATTRIBUTES) and discard
 * (guest_memfd PUNCH_HOLE), and when vCPUs resume.
 *
 * Cost model: the exit hook runs only on KVM_RUN returns; the syscall
 * tracepoints are a fallback for kernels where nothing else sees VMM
 * decisions, and bail out on the ioctl command before any other work.
 * Frequent things are counted here, rare ones streamed to a ring buffer
 * whose reader is woken in batches (a wakeup per event halves a VMM's
 * exit rate).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "privmem/kvm_abi.h"
#include "privmem/events.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define NR_ioctl	16
#define PFERR_PRIVATE_ACCESS	(1ull << 49)
#define PAGE_SHIFT	12

/* Set by the loader from /proc/kallsyms: identify KVM's files by f_op. */
const volatile __u64 kvm_dev_ioctl_addr;
const volatile __u64 kvm_vm_ioctl_addr;
const volatile __u64 kvm_vcpu_ioctl_addr;
const volatile __u64 kvm_gmem_fallocate_addr;
/* Count every exit per VM and reason; off, only request exits cost anything. */
const volatile bool count_exits = true;
/* Wake the reader once this much is queued (or on its poll timeout). */
const volatile __u64 wake_bytes = 64 * 1024;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

#include "vmid.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PM_MAX_VMS_KERNEL);
	__type(key, __u64);
	__type(value, struct pm_vm_kstate);
} vm_kstats SEC(".maps");

/* Exit counts by slot (kstate.h); the loader sizes it and slot_free alike. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PM_MAX_VMS_KERNEL);
	__type(key, __u32);
	__type(value, struct pm_exit_slot);
} exit_slots SEC(".maps");

/* Slots given back (their entry deleted), taken before any never used. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, PM_MAX_VMS_KERNEL);
	__type(value, __u32);
} slot_free SEC(".maps");

/* [0] slots ever handed out, [1] claims made (the claim's count, kstate.h) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} slot_seq SEC(".maps");

/*
 * Destroyed VMs (id -> time) whose final vm_kstats privmemd has not read
 * yet: it frees both; one that finds this full frees the counts unread.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PM_DEAD_VMS_KERNEL);
	__type(key, __u64);
	__type(value, __u64);
} dead_vms SEC(".maps");

/* Hits per hook, so `privmem status` can tell live from merely attached. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PM_HOOK_MAX);
	__type(key, __u32);
	__type(value, __u64);
} hook_hits SEC(".maps");

/* Syscall-tracepoint path: what sys_enter saw, for sys_exit to finish. */
struct call_args {
	__u64 vm;
	__u64 addr;
	__u64 size;
	__u64 attrs;
	__u32 cmd;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct call_args);
} inflight SEC(".maps");

/*
 * The ioctl in flight, per task: at sys_exit a task that never made a KVM
 * ioctl has no storage, which is the cheapest "no" there is (every ioctl of
 * every process passes there). cmd 0: nothing in flight.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct call_args);
} ioctl_inflight SEC(".maps");

/* VMM processes, so process exit can report their VMs gone. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} vmm_tgids SEC(".maps");

static struct pm_vm_kstate zero_kstate;

static __always_inline void hook_hit(__u32 hook)
{
	__u64 *n = bpf_map_lookup_elem(&hook_hits, &hook);

	if (n)
		*n += 1;
}

static __always_inline void note_vmm(__u64 vm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	bpf_map_update_elem(&vmm_tgids, &tgid, &vm, BPF_ANY);
}

/* A slot nobody holds: a freed one, else one never used; false when all are held. */
static __always_inline bool slot_alloc(__u32 *slot)
{
	__u32 zero = 0, n;
	__u64 *seq;

	if (bpf_map_pop_elem(&slot_free, slot) == 0)
		return true;
	seq = bpf_map_lookup_elem(&slot_seq, &zero);
	if (!seq)
		return false;
	/* the array, as the loader sized it, says where the slots end */
	n = (__u32)__sync_fetch_and_add(seq, 1);
	if (n >= PM_MAX_VMS_KERNEL || !bpf_map_lookup_elem(&exit_slots, &n))
		return false;
	*slot = n;
	return true;
}

static __always_inline void slot_release(__u64 claim)
{
	__u32 slot = pm_claim_slot(claim);

	if (claim)
		bpf_map_push_elem(&slot_free, &slot, 0);
}

/*
 * The creator of a vm_kstats entry gives it a slot. Until the claim is
 * written (one word: slot and owner together) the VM's exits are counted in
 * the entry itself, as for a VM that gets no slot at all.
 */
static __always_inline void slot_claim(struct pm_vm_kstate *ks)
{
	__u32 one = 1, slot;
	__u64 *seq = bpf_map_lookup_elem(&slot_seq, &one), n;

	if (!seq || !slot_alloc(&slot))
		return;
	n = __sync_fetch_and_add(seq, 1) + 1;
	ks->claim = (n << PM_SLOT_BITS) | slot;
}

/* First sight of a VM also marks its VMM, whenever privmem started. */
static __always_inline struct pm_vm_kstate *kstate_of(__u64 vm)
{
	struct pm_vm_kstate *ks = bpf_map_lookup_elem(&vm_kstats, &vm);
	bool mine;

	if (ks)
		return ks;
	/* id 0, no VM to name (or no id to be had): counted there, not dropped */
	mine = bpf_map_update_elem(&vm_kstats, &vm, &zero_kstate, BPF_NOEXIST) == 0;
	if (vm)
		note_vmm(vm);
	ks = bpf_map_lookup_elem(&vm_kstats, &vm);
	if (!ks) {
		state_full_count(PM_SF_KSTATS);
		return NULL;
	}
	if (mine)
		slot_claim(ks);
	return ks;
}

static __always_inline struct pm_vm_kstats *kstats_of(__u64 vm)
{
	struct pm_vm_kstate *ks = kstate_of(vm);

	return ks ? &ks->k : NULL;
}

static __always_inline struct file *fd_file(struct task_struct *task, __u64 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline bool is_kvm_file(struct file *f, __u64 ioctl_addr)
{
	return f && ioctl_addr && (__u64)BPF_CORE_READ(f, f_op, unlocked_ioctl) == ioctl_addr;
}

static __always_inline void *kvm_file_data(struct file *f, __u64 ioctl_addr)
{
	return is_kvm_file(f, ioctl_addr) ? BPF_CORE_READ(f, private_data) : NULL;
}

#define ANON_INODE_FS_MAGIC	0x09041934

/*
 * A VM's file, known by what survives a reload of kvm.ko: KVM makes it with
 * anon_inode_getfile("kvm-vm", ...), so it is an anonymous inode whose
 * dentry is named "kvm-vm" (the stats fd is "kvm-vm-stats"). The LSM
 * enforces with this while privmemd is down, when the f_op address a
 * loader baked into rodata may have moved with a reloaded module.
 */
static __always_inline bool is_kvm_vm_file_named(struct file *f)
{
	char name[8] = {};

	if (!f || BPF_CORE_READ(f, f_inode, i_sb, s_magic) != ANON_INODE_FS_MAGIC)
		return false;
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name));
	return name[0] == 'k' && name[1] == 'v' && name[2] == 'm' && name[3] == '-' && name[4] == 'v' &&
	       name[5] == 'm' && name[6] == '\0';
}

static __always_inline void count_lost(__u64 vm)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);
	struct pm_vm_kstats *ks;

	if (n)
		*n += 1;
	ks = vm ? kstats_of(vm) : NULL;
	if (ks)
		__sync_fetch_and_add(&ks->lost, 1);
}

static __always_inline struct pm_event *ev_reserve(__u64 vm, __u8 type)
{
	struct pm_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u64 id = bpf_get_current_pid_tgid();

	if (!e) {
		count_lost(vm);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->vm = vm;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->type = type;
	e->vcpu = -1;
	e->cgroup = bpf_get_current_cgroup_id();
	/* the process's name, not the vCPU thread's ("CPU 0/KVM") */
	BPF_CORE_READ_STR_INTO(&e->comm, (struct task_struct *)bpf_get_current_task_btf(), group_leader, comm);
	return e;
}

static __always_inline void ev_submit(struct pm_event *e)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	/* a new VM wakes privmemd at once: its policy rule waits on that */
	if (e->type == PM_EV_VM_CREATE || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wake_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

#include "policy.bpf.h"
#include "hookcheck.bpf.h"

/*
 * What a vCPU thread's last exit resolved, keyed by thread: the exit path
 * then costs one fd-table read and a lookup instead of a dozen reads
 * (thread_ident).
 *
 * It also holds the thread's open request: a vCPU thread whose last exit
 * was a request resumes it at its next KVM_RUN, and every KVM_RUN asks.
 * Here that question is a task-storage lookup, not a hash lookup; the
 * request fields are the thread's, whichever vCPU the cache holds.
 */
struct vcpu_ident {
	__u64 file;
	__u64 vcpu_ptr;
	__u64 kvm;
	__u64 vm;
	__u64 run;
	__u64 gen;	/* vm_seq's generation when vm was looked up */
	__s32 vcpu;
	__u32 req_open;	/* a request waits for this thread's next KVM_RUN */
	__u64 req_vm;
	__s32 req_vcpu;
	__u32 pad;
	__u64 claim;	/* the VM's claim on an exit slot, read with vm */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct vcpu_ident);
} vcpu_cache SEC(".maps");

/*
 * The last vCPU that exited on this CPU, checked as the thread's cache is:
 * most exits find their vCPU here, in a per-CPU array whose lookup the
 * verifier inlines, where task storage is a helper call (about 30 ns per
 * exit on the bench host). What a vCPU is depends on file, vCPU, struct kvm
 * and generation only, so whichever thread left it here, it holds. The
 * request fields are not used here: they are the thread's (vcpu_cache).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vcpu_ident);
} vcpu_last SEC(".maps");

/*
 * The decoding shared by the live exit hook and the injection program
 * the tests drive with BPF_PROG_TEST_RUN.
 */
struct exit_info {
	__u64 vm;
	__s32 vcpu;
	__u32 reason;
	__s32 err;
	__u32 pad;
	__u64 hc_nr;
	__u64 hc_args[3];
	__u64 mf_flags;
	__u64 mf_gpa;
	__u64 mf_size;
	__u64 *claim;	/* where the caller keeps the VM's claim on a slot (0: not known) */
};

/* A CPU's copy of a slot that was another owner's: the new owner starts from zero. */
static __always_inline void slot_take(struct pm_exit_slot *c, __u64 claim)
{
	__builtin_memset(c, 0, sizeof(*c));
	c->claim = claim;
}

/*
 * Per CPU and without atomics: the program cannot move off this CPU while
 * it runs. r: exit_index().
 */
static __always_inline bool count_in_slot(__u64 claim, __u32 r, __s32 err)
{
	__u32 slot = pm_claim_slot(claim);
	struct pm_exit_slot *c;

	if (!claim)
		return false;
	c = bpf_map_lookup_elem(&exit_slots, &slot);
	if (!c)
		return false;
	if (c->claim != claim)
		slot_take(c, claim);
	c->exits[r] += 1;
	if (err < 0)
		c->exit_errors += 1;
	return true;
}

/*
 * No claim known: the entry's own (made since the caller learnt it, or a
 * caller that keeps none), else the entry's shared counters.
 */
static __always_inline void count_exit_slow(__u64 vm, __u64 *claim, __u32 r, __s32 err)
{
	struct pm_vm_kstate *ks = kstate_of(vm);

	if (!ks)
		return;
	*claim = ks->claim;
	if (count_in_slot(*claim, r, err))
		return;
	__sync_fetch_and_add(&ks->k.exits[r], 1);
	if (err < 0)
		__sync_fetch_and_add(&ks->k.exit_errors, 1);
}

/*
 * The reason's counter, the last for reasons beyond the table. Masked
 * behind a barrier too: the compiler drops a mask it knows is a no-op, and
 * the verifier does not always see the clamp.
 */
static __always_inline __u32 exit_index(__u32 reason)
{
	__u32 r = reason < PM_EXIT_REASONS ? reason : PM_EXIT_REASONS - 1;

	barrier_var(r);
	return r & (PM_EXIT_REASONS - 1);
}

static __always_inline void count_exit(struct exit_info *x)
{
	__u32 r = exit_index(x->reason);

	if (!count_in_slot(*x->claim, r, x->err))
		count_exit_slow(x->vm, x->claim, r, x->err);
}

/* The exiting thread's next KVM_RUN resumes this request (emit_resume). */
static __always_inline void note_request(const struct exit_info *x)
{
	struct vcpu_ident *id = bpf_task_storage_get(&vcpu_cache, bpf_get_current_task_btf(), NULL,
						     BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!id)
		return;
	id->req_vm = x->vm;
	id->req_vcpu = x->vcpu;
	id->req_open = 1;
}

static __always_inline int handle_exit(struct exit_info *x, bool read_run, struct kvm_run *run)
{
	struct pm_event *e;
	__u8 source = PM_SRC_NONE;

	count_exit(x);

	if (x->reason == PM_KVM_EXIT_HYPERCALL) {
		if (read_run) {
			x->hc_nr = BPF_CORE_READ(run, hypercall.nr);
			if (x->hc_nr != PM_KVM_HC_MAP_GPA_RANGE)
				return 0;
			bpf_probe_read_kernel(x->hc_args, sizeof(x->hc_args),
					      __builtin_preserve_access_index(&run->hypercall.args));
		}
		if (x->hc_nr != PM_KVM_HC_MAP_GPA_RANGE)
			return 0;
		source = PM_SRC_HYPERCALL;
	} else if (x->reason == PM_KVM_EXIT_MEMORY_FAULT && x->err == -14 /* EFAULT */) {
		if (read_run && !kvm_run_memory_fault(run, &x->mf_flags, &x->mf_gpa, &x->mf_size))
			return 0;
		source = PM_SRC_FAULT;
	} else {
		return 0;
	}

	e = ev_reserve(x->vm, PM_EV_REQUEST);
	if (!e)
		return 0;
	e->source = source;
	e->vcpu = x->vcpu;
	e->aux = x->reason;
	if (source == PM_SRC_HYPERCALL) {
		e->addr = x->hc_args[0];
		e->size = x->hc_args[1] << PAGE_SHIFT;
		e->attrs = x->hc_args[2];
		e->dir = (x->hc_args[2] & PM_KVM_MAP_GPA_RANGE_ENCRYPTED) ? PM_TO_PRIVATE : PM_TO_SHARED;
		if (x->hc_args[2] & PM_KVM_MAP_GPA_RANGE_PAGE_SZ_2M)
			e->flags |= PM_F_HINT_2M;
		if (x->hc_args[2] & PM_KVM_MAP_GPA_RANGE_PAGE_SZ_1G)
			e->flags |= PM_F_HINT_1G;
	} else {
		e->addr = x->mf_gpa;
		e->size = x->mf_size;
		e->attrs = x->mf_flags;
		e->dir = (x->mf_flags & PM_KVM_MEMORY_EXIT_FLAG_PRIVATE) ? PM_TO_PRIVATE : PM_TO_SHARED;
	}
	ev_submit(e);
	note_request(x);
	return 0;
}

/*
 * A typed view of a kernel address, read with plain loads that the JIT
 * guards as a probe read is guarded (kernel 6.2+, before guest_memfd). On
 * the exit path each bpf_probe_read_kernel cost about 40 ns, as much as
 * the rest of the hook together; these loads cost next to nothing.
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
#define kernel_view(p, type) ((type *)bpf_rdonly_cast((void *)(p), bpf_core_type_id_kernel(type)))
/* 6.1 has no bpf_rdonly_cast: libbpf leaves a missing weak kfunc at 0, and the verifier drops the branch */
#define have_rdonly_cast() (bpf_rdonly_cast != NULL)

/*
 * fdt->fd[fd]: the verifier indexes no struct file ** array, so the slot is
 * viewed as a struct kiocb, whose first member is a struct file *.
 */
static __always_inline struct file *fdt_file(struct fdtable *fdt, __u64 fd)
{
	return kernel_view((__u64)fdt->fd + fd * sizeof(struct file *), struct kiocb)->ki_filp;
}

/*
 * kvm_userspace_exit carries no vCPU: find it through the ioctl that is
 * returning (orig_ax = ioctl, di = vCPU fd, si = KVM_RUN). tp_btf, not
 * raw_tp: task, registers, fd table, file and vCPU are read with plain loads.
 */
/* Does this cache entry describe the vCPU behind f, as of generation gen? */
static __always_inline bool ident_holds(const struct vcpu_ident *id, struct file *f, struct kvm_vcpu *vcpu,
					__u64 kvm, __u64 gen)
{
	return id->file == (__u64)f && id->vcpu_ptr == (__u64)vcpu && id->kvm == kvm && id->gen == gen;
}

/* A VM's claim on an exit slot, 0 if it has none (its exits are then counted in its entry). */
static __always_inline __u64 claim_of(__u64 vm)
{
	struct pm_vm_kstate *ks = kstate_of(vm);

	return ks ? ks->claim : 0;
}

/*
 * The thread's own cache, made to describe the vCPU behind f: NULL when f
 * is no vCPU's file. Valid while the same file still holds the same vCPU
 * of the same VM (a freed file or vCPU can come back at the same address).
 */
static __always_inline struct vcpu_ident *thread_ident(struct task_struct *task, struct file *f,
							struct kvm_vcpu *vcpu, __u64 kvm, __u64 gen)
{
	struct vcpu_ident *id = bpf_task_storage_get(&vcpu_cache, task, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!id)
		return NULL;
	/*
	 * A moved generation (a VM came or went) is a miss too: file, vCPU and
	 * struct kvm may all be a new VM's at old addresses, with its own
	 * kvm_run page, and a forgotten VM's slot another's.
	 */
	if (!ident_holds(id, f, vcpu, kvm, gen)) {
		if (!is_kvm_file(f, kvm_vcpu_ioctl_addr)) {
			id->file = 0;
			return NULL;
		}
		id->file = (__u64)f;
		id->vcpu_ptr = (__u64)vcpu;
		id->kvm = kvm;
		id->gen = gen;
		id->vm = vm_id((struct kvm *)kvm);
		id->claim = 0;
		id->vcpu = BPF_CORE_READ(vcpu, vcpu_id);
		id->run = (__u64)BPF_CORE_READ(vcpu, run);
		hook_hit(PM_HOOK_EXIT);	/* per vCPU seen, not per exit: exits are counted per VM */
	}
	if (!id->claim)
		id->claim = claim_of(id->vm);
	return id;
}

/*
 * kvm_userspace_exit carries no vCPU: find it through the ioctl that is
 * returning (orig_ax = ioctl, di = vCPU fd, si = KVM_RUN). tp_btf, not
 * raw_tp: task, registers, fd table, file and vCPU are read with plain loads.
 */
SEC("tp_btf/kvm_userspace_exit")
int BPF_PROG(pm_exit, __u32 reason, int err)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	struct vcpu_ident *last, *id;
	struct exit_info x = {};
	struct fdtable *fdt;
	struct kvm_vcpu *vcpu;
	struct file *f;
	__u32 zero = 0;
	__u64 fd, gen, kvm;

	/* lean mode: the tracepoint's own reason says whether the guest asked anything */
	if (!count_exits && reason != PM_KVM_EXIT_HYPERCALL && reason != PM_KVM_EXIT_MEMORY_FAULT)
		return 0;
	if (regs->orig_ax != NR_ioctl || regs->si != PM_KVM_RUN)
		return 0;
	fd = regs->di;
	fdt = task->files->fdt;
	if (fd >= fdt->max_fds)
		return 0;
	last = bpf_map_lookup_elem(&vcpu_last, &zero);
	if (!last)
		return 0;
	if (have_rdonly_cast()) {
		f = fdt_file(fdt, fd);
		if (!f)
			return 0;
		vcpu = kernel_view(f->private_data, struct kvm_vcpu);
		kvm = (__u64)vcpu->kvm;
	} else {
		f = NULL;
		bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]);
		if (!f)
			return 0;
		vcpu = BPF_CORE_READ(f, private_data);
		kvm = (__u64)BPF_CORE_READ(vcpu, kvm);
	}
	gen = vm_gen();
	if (!ident_holds(last, f, vcpu, kvm, gen)) {
		id = thread_ident(task, f, vcpu, kvm, gen);
		if (!id)
			return 0;
		*last = *id;
	}
	x.vm = last->vm;
	x.vcpu = last->vcpu;
	x.reason = reason;
	x.err = err;
	x.claim = &last->claim;
	return handle_exit(&x, true, (struct kvm_run *)last->run);
}

/* Test-only twin of pm_exit: arguments are the decoded kvm_run fields. */
SEC("raw_tp")
int BPF_PROG(pm_inject_exit, __u64 vm, __s64 vcpu, __u64 reason, __s64 err, __u64 nr,
	     __u64 a0, __u64 a1, __u64 a2, __u64 mf_flags, __u64 mf_gpa, __u64 mf_size)
{
	struct exit_info x = {
		.vm = vm, .vcpu = vcpu, .reason = reason, .err = err, .hc_nr = nr,
		.hc_args = { a0, a1, a2 },
		.mf_flags = mf_flags, .mf_gpa = mf_gpa, .mf_size = mf_size,
	};
	__u64 claim = 0;

	/* no cache of the VM: its claim is looked up (the slow path), counted where pm_exit counts */
	x.claim = &claim;
	return handle_exit(&x, false, NULL);
}

/* Ioctls: syscall tracepoints are the fallback where no fexit exists. */
static __always_inline bool interesting_cmd(__u64 cmd)
{
	return cmd == PM_KVM_SET_MEMORY_ATTRIBUTES || cmd == PM_KVM_CREATE_GUEST_MEMFD ||
	       cmd == PM_KVM_CREATE_VM;
}

/* Every KVM_RUN entry: a thread that never exited to userspace has no cache at all. */
static __always_inline void emit_resume(void)
{
	struct vcpu_ident *id = bpf_task_storage_get(&vcpu_cache, bpf_get_current_task_btf(), NULL, 0);
	struct pm_event *e;

	if (!id || !id->req_open)
		return;
	id->req_open = 0;
	e = ev_reserve(id->req_vm, PM_EV_RESUME);
	if (e) {
		e->vcpu = id->req_vcpu;
		ev_submit(e);
	}
}

/* An ioctl entering, native or compat: (fd, cmd, arg) from either ABI. */
static __always_inline int enter_ioctl(__u64 fd, __u64 cmd, __u64 arg)
{
	struct task_struct *task;
	struct call_args ca = {};
	void *data;

	if (cmd == PM_KVM_RUN) {
		if (tp_takes(cmd))
			emit_resume();
		return 0;
	}
	if (!interesting_cmd(cmd) || !tp_takes(cmd) || selftest(PM_HOOK_MAX))
		return 0;
	hook_hit(PM_HOOK_IOCTL_TP);
	task = bpf_get_current_task_btf();
	ca.cmd = cmd;
	if (cmd == PM_KVM_CREATE_VM) {
		if (!is_kvm_file(fd_file(task, fd), kvm_dev_ioctl_addr))
			return 0;
	} else {
		data = kvm_file_data(fd_file(task, fd), kvm_vm_ioctl_addr);
		if (!data)
			return 0;
		ca.vm = vm_id(data);
		if (cmd == PM_KVM_SET_MEMORY_ATTRIBUTES) {
			struct pm_kvm_memory_attributes a = {};

			bpf_probe_read_user(&a, sizeof(a), (void *)arg);
			ca.addr = a.address;
			ca.size = a.size;
			ca.attrs = a.attributes;
			if (!policy_in_lsm)
				policy_attempt(ca.vm, &a, false);
		} else {
			struct pm_kvm_create_guest_memfd g = {};

			bpf_probe_read_user(&g, sizeof(g), (void *)arg);
			ca.size = g.size;
			ca.attrs = g.flags;
		}
	}
	{
		struct call_args *slot = bpf_task_storage_get(&ioctl_inflight, task, NULL,
							      BPF_LOCAL_STORAGE_GET_F_CREATE);

		if (slot)
			*slot = ca;
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_ioctl")
int pm_sys_enter_ioctl(struct trace_event_raw_sys_enter *ctx)
{
	return enter_ioctl(ctx->args[0], (__u32)ctx->args[1], ctx->args[2]);
}

/*
 * A 32-bit VMM's ioctl: the syscalls:* events ignore compat system calls
 * on x86, so the fallback also takes raw_syscalls, for compat tasks only
 * (ia32 ioctl is 54: fd, cmd, arg in bx, cx, dx, 32 bits each).
 */
#define NR_ia32_ioctl	54
#define TS_COMPAT	0x0002

static __always_inline bool in_compat_syscall(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	return t->thread_info.status & TS_COMPAT;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(pm_sys_enter_compat, struct pt_regs *regs, long id)
{
	if (id != NR_ia32_ioctl || !in_compat_syscall())
		return 0;
	return enter_ioctl((__u32)regs->bx, (__u32)regs->cx, (__u32)regs->dx);
}

static __always_inline void emit_decide(const struct call_args *ca, __s64 ret, __u8 flags)
{
	__u8 dir = (ca->attrs & PM_KVM_MEMORY_ATTRIBUTE_PRIVATE) ? PM_TO_PRIVATE : PM_TO_SHARED;
	struct pm_event *e;

	/* the ceiling's books first: a full ring loses the record, never the truth */
	if (ret == 0)
		mem_note_conversion(ca->vm, dir, ca->addr, ca->size);
	e = ev_reserve(ca->vm, PM_EV_DECIDE);
	if (!e)
		return;
	e->addr = ca->addr;
	e->size = ca->size;
	e->attrs = ca->attrs;
	e->dir = dir;
	e->ret = ret;
	e->flags = flags;
	ev_submit(e);
}

/*
 * Test-only twin of the ioctl exit hooks: one KVM_SET_MEMORY_ATTRIBUTES
 * call's arguments and result, through the same emit_decide. This host's
 * KVM refuses every such call (ENOTTY); the tests drive successful ones
 * with BPF_PROG_TEST_RUN.
 */
SEC("raw_tp")
int BPF_PROG(pm_inject_decide, __u64 vm, __u64 addr, __u64 size, __u64 attrs, __s64 ret, __u64 flags)
{
	struct call_args ca = {
		.vm = vm, .addr = addr, .size = size, .attrs = attrs, .cmd = PM_KVM_SET_MEMORY_ATTRIBUTES,
	};

	kstats_of(vm);
	emit_decide(&ca, ret, flags);
	return 0;
}

/*
 * A VM is gone: its enforcement state is freed now, whoever dropped the
 * last reference; its final counts wait in dead_vms for privmemd. Its exit
 * slot stays its own until privmemd has read them and deletes the entry.
 */
static __always_inline void vm_retire(__u64 vm, __u8 flags)
{
	__u64 now = bpf_ktime_get_ns(), claim;
	struct pm_vm_kstate *ks;
	struct pm_event *e;

	if (!vm)
		return;
	e = ev_reserve(vm, PM_EV_VM_DESTROY);
	if (e) {
		e->flags = flags;
		ev_submit(e);
	}
	policy_forget(vm);
	ks = bpf_map_lookup_elem(&vm_kstats, &vm);
	if (ks && bpf_map_update_elem(&dead_vms, &vm, &now, BPF_ANY)) {
		/* nobody will read them: the counts go, and the slot with them */
		claim = ks->claim;
		state_full_count(PM_SF_DEAD);
		if (bpf_map_delete_elem(&vm_kstats, &vm) == 0)
			slot_release(claim);
	}
	vm_gen_bump();
}

/*
 * A new VM always gets a new id. Its struct kvm still naming a VM means
 * that VM is gone unseen (no kvm_destroy_vm hook): retired first.
 */
static __always_inline __u64 vm_created(void *kvm)
{
	__u64 k = ptr_bits(kvm);
	struct pm_vm_ident *old, fresh = {};

	if (!k)
		return 0;
	old = bpf_map_lookup_elem(&vm_ids, &k);
	if (old)
		vm_retire(old->id, PM_F_REUSED);
	fresh.id = vm_id_new();
	fresh.tgid = bpf_get_current_pid_tgid() >> 32;
	if (!fresh.id || bpf_map_update_elem(&vm_ids, &k, &fresh, BPF_ANY)) {
		state_full_count(PM_SF_IDS);
		return 0;
	}
	vm_gen_bump();
	return fresh.id;
}

static __always_inline void vm_destroyed(void *kvm)
{
	__u64 k = ptr_bits(kvm);
	struct pm_vm_ident *v = k ? bpf_map_lookup_elem(&vm_ids, &k) : NULL;

	if (!v)
		return;	/* never seen: nothing of it is kept */
	vm_retire(v->id, 0);
	bpf_map_delete_elem(&vm_ids, &k);
}

static __always_inline void emit_vm_create(__u64 vm, __u8 flags)
{
	struct pm_event *e;

	if (!vm)
		return;
	kstats_of(vm);
	note_vmm(vm);
	e = ev_reserve(vm, PM_EV_VM_CREATE);
	if (!e)
		return;
	e->flags = flags;
	ev_submit(e);
}

static __always_inline int exit_ioctl(__s64 ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct call_args *ca = bpf_task_storage_get(&ioctl_inflight, task, NULL, 0);
	struct pm_event *e;

	/* Most ioctls on the system end here: their task has no storage. */
	if (!ca || !ca->cmd)
		return 0;
	if (ca->cmd == PM_KVM_SET_MEMORY_ATTRIBUTES) {
		/* a sibling of the fexit, which never sees what the LSM refused */
		if (ret != -1 /* -EPERM */)
			xc_count(PM_XC_TP_SETATTR);
		emit_decide(ca, ret, PM_F_SYSCALL_TP);
	} else if (ca->cmd == PM_KVM_CREATE_VM) {
		if (ret >= 0)
			emit_vm_create(vm_created(kvm_file_data(fd_file(task, ret), kvm_vm_ioctl_addr)),
				       PM_F_SYSCALL_TP);
	} else if (ca->cmd == PM_KVM_CREATE_GUEST_MEMFD) {
		if (ret >= 0)
			mem_note_gmem(ca->vm, ca->size);
		e = ev_reserve(ca->vm, PM_EV_GMEM_CREATE);
		if (e) {
			e->addr = ret;
			e->size = ca->size;
			e->attrs = ca->attrs;
			e->ret = ret < 0 ? ret : 0;
			e->flags = PM_F_SYSCALL_TP;
			ev_submit(e);
		}
	}
	ca->cmd = 0;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_ioctl")
int pm_sys_exit_ioctl(struct trace_event_raw_sys_exit *ctx)
{
	return exit_ioctl(ctx->ret);
}

/* Only compat tasks can have an ioctl in flight from pm_sys_enter_compat. */
SEC("tp_btf/sys_exit")
int BPF_PROG(pm_sys_exit_compat, struct pt_regs *regs, long ret)
{
	if (!in_compat_syscall())
		return 0;
	return exit_ioctl((__s32)ret);
}

/* Discards: PUNCH_HOLE on a guest_memfd (identified by its fallocate op). */
SEC("tracepoint/syscalls/sys_enter_fallocate")
int pm_sys_enter_fallocate(struct trace_event_raw_sys_enter *ctx)
{
	struct call_args ca = {};
	struct file *f;
	__u32 tid;

	if (!(ctx->args[1] & PM_FALLOC_FL_PUNCH_HOLE) || !kvm_gmem_fallocate_addr)
		return 0;
	f = fd_file(bpf_get_current_task_btf(), ctx->args[0]);
	if (!f || (__u64)BPF_CORE_READ(f, f_op, fallocate) != kvm_gmem_fallocate_addr || selftest(PM_HOOK_MAX))
		return 0;
	hook_hit(PM_HOOK_FALLOCATE_TP);
	ca.vm = vm_id(gmem_file_kvm(BPF_CORE_READ(f, private_data)));
	ca.addr = ctx->args[2];
	ca.size = ctx->args[3];
	ca.attrs = ctx->args[1];
	ca.cmd = PM_FALLOC_FL_PUNCH_HOLE;
	tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&inflight, &tid, &ca, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_fallocate")
int pm_sys_exit_fallocate(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call_args *ca = bpf_map_lookup_elem(&inflight, &tid);
	struct pm_event *e;

	if (!ca || ca->cmd != PM_FALLOC_FL_PUNCH_HOLE)
		return 0;
	e = ev_reserve(ca->vm, PM_EV_DISCARD);
	if (e) {
		e->addr = ca->addr;
		e->size = ca->size;
		e->attrs = ca->attrs;
		e->ret = ctx->ret;
		e->flags = PM_F_SYSCALL_TP;
		ev_submit(e);
	}
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

/* The last thread of a VMM leaving takes its VMs with it. */
SEC("raw_tp/sched_process_exit")
int BPF_PROG(pm_proc_exit, struct task_struct *p)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *vm = bpf_map_lookup_elem(&vmm_tgids, &tgid);
	struct pm_event *e;

	if (!vm)
		return 0;
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	hook_hit(PM_HOOK_PROC_EXIT);
	e = ev_reserve(*vm, PM_EV_VM_DESTROY);
	if (e) {
		e->flags = PM_F_PROC_EXIT;
		ev_submit(e);
	}
	bpf_map_delete_elem(&vmm_tgids, &tgid);
	return 0;
}

/* High-rate events the guest can cause: aggregated, never streamed. */
SEC("raw_tp/kvm_rmp_fault")
int BPF_PROG(pm_rmp_fault, struct kvm_vcpu *vcpu, __u64 gpa, __u64 pfn, __u64 error_code,
	     int rmp_level, int psmash_ret)
{
	struct pm_vm_kstats *ks = kstats_of(vm_id(BPF_CORE_READ(vcpu, kvm)));

	hook_hit(PM_HOOK_RMP_FAULT);
	if (!ks)
		return 0;
	__sync_fetch_and_add(&ks->rmp_faults, 1);
	__sync_fetch_and_add(&ks->rmp_level_hist[rmp_level >= 0 && rmp_level < 3 ? rmp_level : 3], 1);
	return 0;
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;

#pragma unroll
	for (int s = 32; s > 0; s >>= 1) {
		if (v >> s) {
			v >>= s;
			r += s;
		}
	}
	return r;
}

SEC("raw_tp/kvm_page_fault")
int BPF_PROG(pm_page_fault, struct kvm_vcpu *vcpu, __u64 addr, __u64 error_code)
{
	struct pm_vm_kstats *ks;

	if (!(error_code & PFERR_PRIVATE_ACCESS))
		return 0;
	hook_hit(PM_HOOK_PAGE_FAULT);
	ks = kstats_of(vm_id(BPF_CORE_READ(vcpu, kvm)));
	if (!ks)
		return 0;
	__sync_fetch_and_add(&ks->private_faults, 1);
	__sync_fetch_and_add(&ks->private_fault_hist[log2_u64(addr) & (PM_HIST_SLOTS - 1)], 1);
	return 0;
}

/*
 * Where the kernel allows trampolines (fentry/fexit), these replace the
 * syscall tracepoints: they run only for KVM's own files, so other
 * processes pay nothing. Same records, flags without PM_F_SYSCALL_TP.
 */
SEC("fexit/kvm_vm_ioctl")
int BPF_PROG(pm_vm_ioctl_exit, struct file *filp, unsigned int ioctl, unsigned long arg, long ret)
{
	struct call_args ca = {};
	struct pm_event *e;

	if (selftest(PM_HOOK_VM_IOCTL_FEXIT) || !interesting_cmd(ioctl) || ioctl == PM_KVM_CREATE_VM)
		return 0;
	hook_hit(PM_HOOK_VM_IOCTL_FEXIT);
	if (ioctl == PM_KVM_SET_MEMORY_ATTRIBUTES) {
		xc_count(PM_XC_FEXIT_SETATTR);
		if (ret == 0)
			xc_count(PM_XC_FEXIT_SETATTR_OK);
	}
	if (vm_ioctl_stood_in)
		return 0;	/* the syscall tracepoint books these now */
	ca.vm = vm_id(BPF_CORE_READ(filp, private_data));
	if (ioctl == PM_KVM_SET_MEMORY_ATTRIBUTES) {
		struct pm_kvm_memory_attributes a = {};

		bpf_probe_read_user(&a, sizeof(a), (void *)arg);
		ca.addr = a.address;
		ca.size = a.size;
		ca.attrs = a.attributes;
		/* after the fact, so audit only: the LSM is what can refuse */
		if (!policy_in_lsm)
			policy_attempt(ca.vm, &a, false);
		emit_decide(&ca, ret, 0);
		return 0;
	}
	{
		struct pm_kvm_create_guest_memfd g = {};

		bpf_probe_read_user(&g, sizeof(g), (void *)arg);
		if (ret >= 0)
			mem_note_gmem(ca.vm, g.size);
		e = ev_reserve(ca.vm, PM_EV_GMEM_CREATE);
		if (!e)
			return 0;
		e->addr = ret;
		e->size = g.size;
		e->attrs = g.flags;
		e->ret = ret < 0 ? ret : 0;
		ev_submit(e);
	}
	return 0;
}

SEC("fexit/kvm_dev_ioctl")
int BPF_PROG(pm_dev_ioctl_exit, struct file *filp, unsigned int ioctl, unsigned long arg, long ret)
{
	if (selftest(PM_HOOK_DEV_IOCTL_FEXIT) || ioctl != PM_KVM_CREATE_VM || ret < 0)
		return 0;
	hook_hit(PM_HOOK_DEV_IOCTL_FEXIT);
	emit_vm_create(vm_created(kvm_file_data(fd_file(bpf_get_current_task_btf(), ret), kvm_vm_ioctl_addr)), 0);
	return 0;
}

SEC("fentry/kvm_vcpu_ioctl")
int BPF_PROG(pm_vcpu_ioctl_entry, struct file *filp, unsigned int ioctl, unsigned long arg)
{
	if (selftest(PM_HOOK_VCPU_IOCTL_FENTRY) || ioctl != PM_KVM_RUN)
		return 0;
	hook_hit(PM_HOOK_VCPU_IOCTL_FENTRY);
	emit_resume();
	return 0;
}

SEC("fexit/kvm_gmem_fallocate")
int BPF_PROG(pm_gmem_fallocate_exit, struct file *file, int mode, loff_t offset, loff_t len, long ret)
{
	struct pm_event *e;

	if (selftest(PM_HOOK_GMEM_FALLOC_FEXIT) || !(mode & PM_FALLOC_FL_PUNCH_HOLE))
		return 0;
	hook_hit(PM_HOOK_GMEM_FALLOC_FEXIT);
	e = ev_reserve(vm_id(gmem_file_kvm(BPF_CORE_READ(file, private_data))), PM_EV_DISCARD);
	if (!e)
		return 0;
	e->addr = offset;
	e->size = len;
	e->attrs = mode;
	e->ret = ret;
	ev_submit(e);
	return 0;
}

/* The real end of a VM: its last reference dropped. */
SEC("fentry/kvm_destroy_vm")
int BPF_PROG(pm_destroy_vm, struct kvm *kvm)
{
	if (selftest(PM_HOOK_DESTROY_FENTRY))
		return 0;
	hook_hit(PM_HOOK_DESTROY_FENTRY);
	vm_destroyed(kvm);
	return 0;
}

/*
 * Test-only: a VM's life by a made-up struct kvm address, through the same
 * functions the hooks call (this host has no trampolines and no
 * guest_memfd). The id lands in inject_id.
 */
enum { PM_INJ_CREATE, PM_INJ_LOOKUP, PM_INJ_DESTROY, PM_INJ_GMEM, PM_INJ_GMEM_CLOSE };
__u64 inject_id;

SEC("raw_tp")
int BPF_PROG(pm_inject_vm, __u64 op, __u64 kvm, __u64 size)
{
	void *k = (void *)kvm;

	if (op == PM_INJ_CREATE) {
		inject_id = vm_created(k);
		emit_vm_create(inject_id, 0);
	} else if (op == PM_INJ_LOOKUP) {
		inject_id = vm_id(k);
	} else if (op == PM_INJ_DESTROY) {
		vm_destroyed(k);
	} else if (op == PM_INJ_GMEM) {
		inject_id = vm_id(k);
		mem_note_gmem(inject_id, size);
	} else if (op == PM_INJ_GMEM_CLOSE) {
		inject_id = vm_id_known(k);
		mem_note_gmem_close(inject_id, size);
	}
	return 0;
}

/* Test-only: one audit-path decision (tracing programs cannot take the LSM's lock). */
SEC("raw_tp")
int BPF_PROG(pm_inject_attempt, __u64 vm, __u64 addr, __u64 size, __u64 attrs)
{
	struct pm_kvm_memory_attributes a = { .address = addr, .size = size, .attributes = attrs };

	return policy_attempt(vm, &a, false);
}

/* A guest_memfd's last reference: its bytes leave the VM's guest memory. */
SEC("fentry/kvm_gmem_release")
int BPF_PROG(pm_gmem_release, struct inode *inode, struct file *file)
{
	__u64 vm, size;
	struct pm_event *e;

	if (selftest(PM_HOOK_GMEM_RELEASE_FENTRY))
		return 0;
	hook_hit(PM_HOOK_GMEM_RELEASE_FENTRY);
	vm = vm_id_known(gmem_file_kvm(BPF_CORE_READ(file, private_data)));
	size = BPF_CORE_READ(inode, i_size);
	if (!vm)
		return 0;
	mem_note_gmem_close(vm, size);
	e = ev_reserve(vm, PM_EV_GMEM_CLOSE);
	if (e) {
		e->size = size;
		ev_submit(e);
	}
	return 0;
}

/*
 * kvm_vm_set_mem_attributes (7.2+) names no VM: like the exit hook, find it
 * through the ioctl being served (di = VM fd).
 */
SEC("raw_tp/kvm_vm_set_mem_attributes")
int BPF_PROG(pm_set_attr, __u64 start, __u64 end, unsigned long attrs)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	struct pm_vm_kstats *ks;
	struct kvm *kvm;

	hook_hit(PM_HOOK_SET_ATTR_TP);
	kvm = kvm_file_data(fd_file(task, BPF_CORE_READ(regs, di)), kvm_vm_ioctl_addr);
	ks = kstats_of(vm_id(kvm));
	if (!ks)
		return 0;
	__sync_fetch_and_add(&ks->set_attr_calls, 1);
	__sync_fetch_and_add(&ks->set_attr_bytes, (end - start) << PAGE_SHIFT);
	return 0;
}

/*
 * Enforcement: runs for every ioctl on the system, so the command is the
 * first test. Needs `bpf` among the active LSMs, or it attaches and does
 * nothing: the loader checks /sys/kernel/security/lsm before claiming it.
 * The attributes are read from the VMM's memory, as KVM will read them
 * again: a VMM could change them in between (see privmem.policy(5)).
 */
/*
 * Which load of the LSM programs decides. A privmemd taking over a pinned
 * link attaches its fresh program beside the old one, then writes its own
 * generation here: from then on the old program stands aside, though the
 * kernel frees its link only after an RCU grace period (under emulation,
 * long enough for a VMM to be decided twice and charged twice). Pinned, so
 * old and new read the same word; 0: nobody claimed it yet, all decide.
 */
const volatile __u64 lsm_gen;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lsm_owner SEC(".maps");

static __always_inline bool lsm_stands_aside(void)
{
	__u32 zero = 0;
	__u64 *owner = bpf_map_lookup_elem(&lsm_owner, &zero);

	return owner && *owner && *owner != lsm_gen;
}

/*
 * An argument the LSM cannot read is refused in enforce mode: KVM's own
 * copy may still succeed (a page faulted in by then), and that conversion
 * would pass unchecked.
 */
static __always_inline bool unreadable_denied(__u64 vm)
{
	const struct pm_rule *r = rule_of(vm);
	bool deny;

	if (!r || r->mode == PM_MODE_OFF)
		return false;
	deny = pm_denies(r, PM_DENY_UNREADABLE);
	emit_verdict(vm, r, PM_DENY_UNREADABLE, deny, PM_DIR_NONE, 0, 0, 0);
	return deny;
}

/* The one decision of every LSM path (native, sleepable native, compat). */
static __always_inline int lsm_decide(struct file *file, __u32 hook, const struct pm_kvm_memory_attributes *a,
				      long read_err)
{
	struct call_args ca = {};
	void *kvm = BPF_CORE_READ(file, private_data);

	if (!kvm)
		return 0;
	hook_hit(hook);
	ca.vm = vm_id(kvm);
	if (read_err) {
		if (!unreadable_denied(ca.vm))
			return 0;
		xc_count(PM_XC_LSM_DENIED);
		return -1; /* -EPERM */
	}
	if (!policy_attempt(ca.vm, a, true)) {
		xc_count(PM_XC_LSM_SETATTR);
		return 0;
	}
	xc_count(PM_XC_LSM_DENIED);
	if (lsm_reports_attempt) {
		ca.addr = a->address;
		ca.size = a->size;
		ca.attrs = a->attributes;
		emit_decide(&ca, -1 /* -EPERM */, 0);
	}
	return -1; /* -EPERM */
}

/*
 * Enforcement: runs for every ioctl on the system, so the command is the
 * first test. Needs `bpf` among the active LSMs, or it attaches and does
 * nothing: the loader checks /sys/kernel/security/lsm before claiming it.
 * The attributes are read from the VMM's memory, as KVM will read them
 * again: a VMM could change them in between (see privmem.policy(5)).
 * Sleepable where the kernel allows it: bpf_copy_from_user faults the
 * argument in as KVM's copy_from_user does, where bpf_probe_read_user
 * fails on a page not yet touched.
 */
SEC("lsm.s/file_ioctl")
int BPF_PROG(pm_lsm_ioctl_s, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	struct pm_kvm_memory_attributes a = {};
	long err;

	if (ret || cmd != PM_KVM_SET_MEMORY_ATTRIBUTES || !is_kvm_vm_file_named(file) || lsm_stands_aside())
		return ret;
	err = bpf_copy_from_user(&a, sizeof(a), (void *)arg);
	return lsm_decide(file, PM_HOOK_LSM, &a, err);
}

/* The same where sleepable LSM programs are refused. */
SEC("lsm/file_ioctl")
int BPF_PROG(pm_lsm_ioctl, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	struct pm_kvm_memory_attributes a = {};
	long err;

	if (ret || cmd != PM_KVM_SET_MEMORY_ATTRIBUTES || !is_kvm_vm_file_named(file) || lsm_stands_aside())
		return ret;
	err = bpf_probe_read_user(&a, sizeof(a), (void *)arg);
	return lsm_decide(file, PM_HOOK_LSM, &a, err);
}

/*
 * A 32-bit VMM's ioctls pass security_file_ioctl_compat, not
 * security_file_ioctl, and still reach kvm_vm_ioctl (kvm_vm_compat_ioctl):
 * the same decision here. The structure has the same layout and the same
 * command number in both ABIs; the pointer is a 32-bit one. Not a
 * sleepable hook in any kernel, so an unreadable argument is refused.
 */
SEC("lsm/file_ioctl_compat")
int BPF_PROG(pm_lsm_ioctl_compat, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	struct pm_kvm_memory_attributes a = {};
	long err;

	if (ret || cmd != PM_KVM_SET_MEMORY_ATTRIBUTES || !is_kvm_vm_file_named(file) || lsm_stands_aside())
		return ret;
	err = bpf_probe_read_user(&a, sizeof(a), (void *)(unsigned long)(__u32)arg);
	return lsm_decide(file, PM_HOOK_LSM_COMPAT, &a, err);
}
