// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* VM, vCPU and guest_memfd set-up and tear-down. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm.h"

void die_errno(const char *what, int err)
{
	char buf[16];

	fprintf(stderr, "testvmm: %s: %s (%s)\n", what, errno_name(err, buf, sizeof(buf)),
		strerror(err));
	exit(1);
}

static int xioctl(int fd, unsigned long req, void *arg, const char *what)
{
	int r = ioctl(fd, req, arg);

	if (r < 0)
		die_errno(what, errno);
	return r;
}

static int gmem_create(struct vm *vm, uint64_t size)
{
	struct pm_kvm_create_guest_memfd g = { .size = size, .flags = vm->gmem_flags };
	int fd = xioctl(vm->vm_fd, PM_KVM_CREATE_GUEST_MEMFD, &g, "KVM_CREATE_GUEST_MEMFD");

	vm->gmem_created++;
	vm->gmem_created_bytes += size;
	return fd;
}

/*
 * The VMM maps the guest_memfd itself rather than separate anonymous
 * memory: with GUEST_MEMFD_FLAG_MMAP the gmem is the only backing of the
 * slot, so host accesses (our table and page-table writes, KVM's own
 * emulator reads through userspace_addr) and guest accesses see the same
 * pages, and a PUNCH_HOLE is immediately visible to both.
 */
static uint8_t *gmem_map(int fd, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		die_errno("mmap(guest_memfd)", errno);
	return p;
}

static void set_region_at(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
			  uint8_t *hva, int gmem_fd, uint64_t gmem_offset)
{
	struct pm_kvm_userspace_memory_region2 r;

	memset(&r, 0, sizeof(r));
	r.slot = slot;
	r.guest_phys_addr = gpa;
	r.memory_size = size;
	if (size) {
		r.flags = PM_KVM_MEM_GUEST_MEMFD;
		r.userspace_addr = (uint64_t)(uintptr_t)hva;
		r.guest_memfd = (uint32_t)gmem_fd;
		r.guest_memfd_offset = gmem_offset;
	}
	xioctl(vm->vm_fd, PM_KVM_SET_USER_MEMORY_REGION2, &r,
	       size ? "KVM_SET_USER_MEMORY_REGION2" : "KVM_SET_USER_MEMORY_REGION2(delete)");
}

static void set_region(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
		       uint8_t *hva, int gmem_fd)
{
	set_region_at(vm, slot, gpa, size, hva, gmem_fd, 0);
}

/*
 * The shared view of a SW_PROTECTED_VM: private anonymous memory, as
 * QEMU's guest RAM, so that discarding it (MADV_DONTNEED) really frees
 * the pages (on shared anonymous memory it would only unmap them).
 */
static uint8_t *anon_private(uint64_t size, const char *what)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		die_errno(what, errno);
	return p;
}

static int check_ext(int fd, long cap)
{
	int r = ioctl(fd, PM_KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

/*
 * What --vm-type 1 needs, each refused with one line: the VM type
 * (KVM_CAP_VM_TYPES on /dev/kvm, before KVM_CREATE_VM would fail with a
 * bare EINVAL), then on the VM: PRIVATE among the memory attributes, and
 * MAP_GPA_RANGE among the hypercalls KVM can hand to userspace, which is
 * then switched on.
 */
static void swprot_check_types(int kvm_fd)
{
	int types = check_ext(kvm_fd, PM_KVM_CAP_VM_TYPES);

	if (!(types & (1 << PM_KVM_X86_SW_PROTECTED_VM))) {
		fprintf(stderr, "testvmm: --vm-type 1: KVM offers no KVM_X86_SW_PROTECTED_VM "
			"(KVM_CAP_VM_TYPES=%#x; needs a kvm.ko built with CONFIG_KVM_SW_PROTECTED_VM and the TDP MMU)\n",
			types);
		exit(1);
	}
}

static void swprot_check_vm(struct vm *vm)
{
	struct kvm_enable_cap cap;
	int attrs = check_ext(vm->vm_fd, PM_KVM_CAP_MEMORY_ATTRIBUTES);
	int hc = check_ext(vm->vm_fd, PM_KVM_CAP_EXIT_HYPERCALL);

	if (!(attrs & PM_KVM_MEMORY_ATTRIBUTE_PRIVATE)) {
		fprintf(stderr, "testvmm: --vm-type 1: KVM_CAP_MEMORY_ATTRIBUTES=%#x lacks PRIVATE (%#llx)\n",
			attrs, (unsigned long long)PM_KVM_MEMORY_ATTRIBUTE_PRIVATE);
		exit(1);
	}
	if (!(hc & (1 << PM_KVM_HC_MAP_GPA_RANGE))) {
		fprintf(stderr, "testvmm: --vm-type 1: KVM_CAP_EXIT_HYPERCALL=%#x lacks MAP_GPA_RANGE (bit %d)\n",
			hc, PM_KVM_HC_MAP_GPA_RANGE);
		exit(1);
	}
	memset(&cap, 0, sizeof(cap));
	cap.cap = PM_KVM_CAP_EXIT_HYPERCALL;
	cap.args[0] = 1ull << PM_KVM_HC_MAP_GPA_RANGE;
	xioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap, "KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL)");
	vm->nr_memslots = (uint64_t)check_ext(vm->vm_fd, KVM_CAP_NR_MEMSLOTS);
}

/*
 * Opens /dev/kvm and asks it what it offers, before any VM exists: main()
 * decides from the answers what this host can run (a guest_memfd or not).
 */
void vm_open(struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = vm->vcpu_fd = vm->gmem_fd = vm->fault_gmem_fd = -1;
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		die_errno("open(/dev/kvm)", errno);
	vm->caps.guest_memfd = check_ext(vm->kvm_fd, PM_KVM_CAP_GUEST_MEMFD);
	vm->caps.guest_memfd_flags = check_ext(vm->kvm_fd, PM_KVM_CAP_GUEST_MEMFD_FLAGS);
	vm->caps.memory_attributes = check_ext(vm->kvm_fd, PM_KVM_CAP_MEMORY_ATTRIBUTES);
	vm->caps.vm_types = check_ext(vm->kvm_fd, PM_KVM_CAP_VM_TYPES);
	vm->caps.user_memory2 = check_ext(vm->kvm_fd, PM_KVM_CAP_USER_MEMORY2);
	vm->caps.memory_fault_info = check_ext(vm->kvm_fd, PM_KVM_CAP_MEMORY_FAULT_INFO);
	vm->caps.vm_guest_memfd = -1;
	vm->has_gmem = vm->caps.guest_memfd > 0;
}

/* Whether /dev/kvm can make VMs of --vm-type at all: exit 1 with one line if not. */
void vm_check_type(const struct vm *vm, const struct opts *o)
{
	if (opts_swprot(o) && !vm->has_gmem) {
		fprintf(stderr, "testvmm: --vm-type 1: KVM has no guest_memfd (KVM_CAP_GUEST_MEMFD=%d)\n",
			vm->caps.guest_memfd);
		exit(1);
	}
	if (opts_swprot(o))
		swprot_check_types(vm->kvm_fd);
}

void vm_create(struct vm *vm, const struct opts *o)
{
	vm_check_type(vm, o);
	vm->vm_fd = xioctl(vm->kvm_fd, PM_KVM_CREATE_VM, (void *)(uintptr_t)o->vm_type,
			   "KVM_CREATE_VM");
	/* the VM's own answer decides: /dev/kvm's is for the best VM type it has */
	vm->caps.vm_guest_memfd = check_ext(vm->vm_fd, PM_KVM_CAP_GUEST_MEMFD);
	if (vm->caps.vm_guest_memfd <= 0)
		vm->has_gmem = false;
	vm->mem_size = o->mem;
	if (vm->has_gmem) {
		vm->gmem_flags = o->gmem_flags;
		vm->mem_is_gmem = gmem_is_host_view(o->gmem_flags);
	}
	if (opts_swprot(o)) {
		vm->swprot = true;
		swprot_check_vm(vm);
	}
}

/*
 * Without any guest_memfd: the memory of an ordinary VM, anonymous memory
 * in a slot without KVM_MEM_GUEST_MEMFD (the old ioctl where KVM has no
 * KVM_SET_USER_MEMORY_REGION2).  Shared, as a gmem's mmap would be, so
 * that KVM and the VMM see the same pages.
 */
static void set_main_memory_plain(struct vm *vm)
{
	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED)
		die_errno("mmap(guest memory)", errno);
	if (vm->caps.user_memory2 > 0) {
		struct pm_kvm_userspace_memory_region2 r;

		memset(&r, 0, sizeof(r));
		r.slot = SLOT_MAIN;
		r.memory_size = vm->mem_size;
		r.userspace_addr = (uint64_t)(uintptr_t)vm->mem;
		xioctl(vm->vm_fd, PM_KVM_SET_USER_MEMORY_REGION2, &r, "KVM_SET_USER_MEMORY_REGION2");
	} else {
		struct kvm_userspace_memory_region r;

		memset(&r, 0, sizeof(r));
		r.slot = SLOT_MAIN;
		r.memory_size = vm->mem_size;
		r.userspace_addr = (uint64_t)(uintptr_t)vm->mem;
		xioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r, "KVM_SET_USER_MEMORY_REGION");
	}
}

/*
 * Without an mmap-able gmem, the layout QEMU uses for private-memory VMs:
 * shared pages in ordinary memory at userspace_addr, private ones in the
 * gmem, the attributes choosing between them.
 */
void vm_set_main_memory(struct vm *vm)
{
	if (!vm->has_gmem) {
		set_main_memory_plain(vm);
		return;
	}
	vm->gmem_fd = gmem_create(vm, vm->mem_size);
	if (vm->mem_is_gmem) {
		vm->mem = gmem_map(vm->gmem_fd, vm->mem_size);
	} else if (vm->swprot) {
		vm->mem = anon_private(vm->mem_size, "mmap(guest memory)");
	} else {
		vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (vm->mem == MAP_FAILED)
			die_errno("mmap(guest memory)", errno);
	}
	set_region(vm, SLOT_MAIN, 0, vm->mem_size, vm->mem, vm->gmem_fd);
}

/*
 * The fault window is a second slot with its own guest_memfd, so that
 * dropping it to provoke KVM_EXIT_MEMORY_FAULT never takes away the
 * guest's code, page tables or mailbox, which live in SLOT_MAIN.
 */
void vm_fault_window_add(struct vm *vm)
{
	vm->fault_gmem_fd = gmem_create(vm, vm->fault_size);
	vm->fault_mem = gmem_map(vm->fault_gmem_fd, vm->fault_size);
	set_region(vm, SLOT_FAULT, vm->fault_gpa, vm->fault_size, vm->fault_mem,
		   vm->fault_gmem_fd);
}

/*
 * SW_PROTECTED_VM: the window gets its guest_memfd and shared view, but
 * no memslot: swprot.c plugs one 4 KiB slot per page when the guest's
 * access to it ends in a memory fault.
 */
void vm_fault_window_create_unplugged(struct vm *vm)
{
	vm->fault_gmem_fd = gmem_create(vm, vm->fault_size);
	vm->fault_mem = anon_private(vm->fault_size, "mmap(fault window)");
}

void vm_fault_window_plug(struct vm *vm, uint64_t page)
{
	uint64_t off = page * PAGE_SIZE_4K;

	set_region_at(vm, (uint32_t)(SLOT_FAULT + page), vm->fault_gpa + off, PAGE_SIZE_4K,
		      vm->fault_mem + off, vm->fault_gmem_fd, off);
	vm->slots_plugged++;
}

/*
 * Release the last references to the window's guest_memfd while its slot
 * stays in place: the mmap pins the file as much as the fd does, so both
 * must go.  The file's release unbinds it from the slot and zaps the
 * guest's mappings of it, so the guest's next access to the window finds
 * a gmem slot without a file and KVM ends KVM_RUN with EFAULT and
 * KVM_EXIT_MEMORY_FAULT instead of resolving the fault.
 */
void vm_fault_window_drop(struct vm *vm)
{
	if (munmap(vm->fault_mem, vm->fault_size) < 0)
		die_errno("munmap(fault guest_memfd)", errno);
	vm->fault_mem = NULL;
	close(vm->fault_gmem_fd);
	vm->fault_gmem_fd = -1;
}

/*
 * A slot whose guest_memfd has gone cannot be rebound: KVM only accepts a
 * gmem binding when a slot is created.  So recovery deletes the slot and
 * vm_fault_window_add() creates it again over a fresh guest_memfd.
 */
void vm_fault_window_delete_slot(struct vm *vm)
{
	set_region(vm, SLOT_FAULT, vm->fault_gpa, 0, NULL, -1);
}

void vm_create_vcpu(struct vm *vm)
{
	struct kvm_cpuid2 *cpuid;
	const int nent = 256;
	int mmap_size;

	vm->vcpu_fd = xioctl(vm->vm_fd, KVM_CREATE_VCPU, (void *)0, "KVM_CREATE_VCPU");
	mmap_size = xioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL, "KVM_GET_VCPU_MMAP_SIZE");
	vm->run_size = (size_t)mmap_size;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED)
		die_errno("mmap(kvm_run)", errno);

	/* Give the guest the host's supported CPUID so long mode is advertised. */
	cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(cpuid->entries[0]));
	if (!cpuid)
		die_errno("calloc", ENOMEM);
	cpuid->nent = nent;
	xioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid, "KVM_GET_SUPPORTED_CPUID");
	xioctl(vm->vcpu_fd, KVM_SET_CPUID2, cpuid, "KVM_SET_CPUID2");
	free(cpuid);
}

/*
 * Returns false when the host has no such MSR (KVM_SET_MSRS sets 0
 * entries), i.e. on hardware-virtualised KVM, where guests always run
 * natively and nothing needs switching.
 */
bool vm_set_native(struct vm *vm, bool on)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + sizeof(m->entries[0]));
	int n;

	if (!m)
		die_errno("calloc", ENOMEM);
	m->nmsrs = 1;
	m->entries[0].index = PVM_MSR_NATIVE;
	m->entries[0].data = on ? GUEST_PVM_NATIVE_GPA | PVM_NATIVE_ENABLE : 0;
	n = xioctl(vm->vcpu_fd, KVM_SET_MSRS, m, "KVM_SET_MSRS(PVM native)");
	free(m);
	return n == 1;
}

/*
 * Everything the VM holds goes, so the kernel frees it; what is left is
 * its record (sizes, flags, counts), which a report may still print
 * (--vms), with no pointer or fd to be used or closed twice.
 */
void vm_destroy(struct vm *vm)
{
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->fault_mem)
		munmap(vm->fault_mem, vm->fault_size);
	if (vm->fault_gmem_fd >= 0)
		close(vm->fault_gmem_fd);
	if (vm->mem)
		munmap(vm->mem, vm->mem_size);
	if (vm->gmem_fd >= 0)
		close(vm->gmem_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->run = NULL;
	vm->fault_mem = vm->mem = NULL;
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = vm->gmem_fd = vm->fault_gmem_fd = -1;
}
