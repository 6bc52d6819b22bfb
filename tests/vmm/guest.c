// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The guest: 64-bit code bytes, identity page tables, initial registers. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm.h"

/*
 * Assembled with `as --64` from the listing beside the bytes; the guest
 * reads everything it needs from struct guest_hdr, so the VMM never
 * patches code.  Offsets in the header: nreq 0, nfault 8, nexit 16,
 * table_gpa 24, fault_gpa 32.  No stack, no interrupts: the only ways out
 * are `out` (KVM_EXIT_IO), the fault window (KVM_EXIT_MEMORY_FAULT) and
 * the final hlt (KVM_EXIT_HLT, as there is no in-kernel irqchip).
 */
static const uint8_t guest_code[] = {
	0xbb, 0x00, 0x80, 0x00, 0x00,		/* 00 mov $GUEST_HDR_GPA,%ebx */
	0x48, 0x8b, 0x73, 0x18,			/* 05 mov 24(%rbx),%rsi  table */
	0x48, 0x8b, 0x0b,			/* 09 mov 0(%rbx),%rcx   nreq */
	0xbf, 0x00, 0x90, 0x00, 0x00,		/* 0c mov $GUEST_MAILBOX_GPA,%edi */
	/* requests: copy each entry into the mailbox, then ring */
	0x48, 0x85, 0xc9,			/* 11 test %rcx,%rcx */
	0x74, 0x24,				/* 14 jz 3a */
	0x48, 0x8b, 0x06,			/* 16 mov (%rsi),%rax */
	0x48, 0x89, 0x07,			/* 19 mov %rax,(%rdi)      gpa */
	0x48, 0x8b, 0x46, 0x08,			/* 1c mov 8(%rsi),%rax */
	0x48, 0x89, 0x47, 0x08,			/* 20 mov %rax,8(%rdi)     size */
	0x48, 0x8b, 0x46, 0x10,			/* 24 mov 16(%rsi),%rax */
	0x48, 0x89, 0x47, 0x10,			/* 28 mov %rax,16(%rdi)    dir */
	0x66, 0xba, 0x10, 0x05,			/* 2c mov $PORT_REQUEST,%dx */
	0xee,					/* 30 out %al,(%dx) */
	0x48, 0x83, 0xc6, 0x18,			/* 31 add $24,%rsi */
	0x48, 0xff, 0xc9,			/* 35 dec %rcx */
	0xeb, 0xd7,				/* 38 jmp 11 */
	/* faults: announce, then touch the (dropped) fault window */
	0x48, 0x8b, 0x4b, 0x08,			/* 3a mov 8(%rbx),%rcx    nfault */
	0x48, 0x8b, 0x73, 0x20,			/* 3e mov 32(%rbx),%rsi   fault_gpa */
	0x48, 0x85, 0xc9,			/* 42 test %rcx,%rcx */
	0x74, 0x14,				/* 45 jz 5b */
	0x66, 0xba, 0x12, 0x05,			/* 47 mov $PORT_FAULT_ARM,%dx */
	0xee,					/* 4b out %al,(%dx) */
	0x48, 0x8b, 0x06,			/* 4c mov (%rsi),%rax     faults */
	0x48, 0x81, 0xc6, 0x00, 0x10, 0x00, 0x00, /* 4f add $0x1000,%rsi */
	0x48, 0xff, 0xc9,			/* 56 dec %rcx */
	0xeb, 0xe7,				/* 59 jmp 42 */
	/* exit benchmark */
	0x48, 0x8b, 0x4b, 0x10,			/* 5b mov 16(%rbx),%rcx   nexit */
	0x48, 0x85, 0xc9,			/* 5f test %rcx,%rcx */
	0x74, 0x0f,				/* 62 jz 73 */
	0x66, 0xba, 0x13, 0x05,			/* 64 mov $PORT_LOOP_BEGIN,%dx */
	0xee,					/* 68 out %al,(%dx) */
	0x66, 0xba, 0x11, 0x05,			/* 69 mov $PORT_LOOP,%dx */
	0xee,					/* 6d out %al,(%dx) */
	0x48, 0xff, 0xc9,			/* 6e dec %rcx */
	0x75, 0xfa,				/* 71 jnz 6d */
	0xf4,					/* 73 hlt */
	0xeb, 0xfd,				/* 74 jmp 73 */
};

_Static_assert(sizeof(struct guest_hdr) == 40, "guest code reads fixed header offsets");
_Static_assert(sizeof(struct guest_req) == 24, "guest code copies 24-byte entries");
_Static_assert(GUEST_HDR_GPA == 0x8000 && GUEST_MAILBOX_GPA == 0x9000,
	       "addresses are immediates in guest_code");
_Static_assert(PORT_REQUEST == 0x510 && PORT_LOOP == 0x511 &&
	       PORT_FAULT_ARM == 0x512 && PORT_LOOP_BEGIN == 0x513,
	       "ports are immediates in guest_code");

/*
 * The SW_PROTECTED_VM guest (swprot.c), also from `as --64`.  Header as
 * above plus hc_failed at 40, which the guest writes; the table holds
 * ready MAP_GPA_RANGE arguments {gpa, npages, attrs}.  Loop state lives in
 * r8-r11 because the hypercall takes rax (nr 12), rbx, rcx, rdx; it is
 * VMMCALL, as the test bed's KVM is kvm_amd (on Intel KVM would patch it).
 * Faults: one 8-byte read per page of the fault window, at fault_gpa
 * (page + 0x80) and each page after it.  Then the same exit benchmark and
 * the final hlt as the host-mode guest.
 */
static const uint8_t guest_code_swprot[] = {
	0x41, 0xb8, 0x00, 0x80, 0x00, 0x00,	/* 00 mov $GUEST_HDR_GPA,%r8d */
	0x4d, 0x8b, 0x48, 0x18,			/* 06 mov 24(%r8),%r9    table */
	0x4d, 0x8b, 0x10,			/* 0a mov 0(%r8),%r10    nreq */
	0x45, 0x31, 0xdb,			/* 0d xor %r11d,%r11d    failures */
	/* hypercalls */
	0x4d, 0x85, 0xd2,			/* 10 test %r10,%r10 */
	0x74, 0x28,				/* 13 jz 3d */
	0xb8, 0x0c, 0x00, 0x00, 0x00,		/* 15 mov $KVM_HC_MAP_GPA_RANGE,%eax */
	0x49, 0x8b, 0x19,			/* 1a mov (%r9),%rbx      gpa */
	0x49, 0x8b, 0x49, 0x08,			/* 1d mov 8(%r9),%rcx     npages */
	0x49, 0x8b, 0x51, 0x10,			/* 21 mov 16(%r9),%rdx    attrs */
	0x0f, 0x01, 0xd9,			/* 25 vmmcall */
	0x48, 0x85, 0xc0,			/* 28 test %rax,%rax */
	0x74, 0x07,				/* 2b jz 34 */
	0x49, 0xff, 0xc3,			/* 2d inc %r11 */
	0x4d, 0x89, 0x58, 0x28,			/* 30 mov %r11,40(%r8)    hc_failed */
	0x49, 0x83, 0xc1, 0x18,			/* 34 add $24,%r9 */
	0x49, 0xff, 0xca,			/* 38 dec %r10 */
	0xeb, 0xd3,				/* 3b jmp 10 */
	/* faults: touch each page of the fault window once */
	0x4d, 0x8b, 0x50, 0x08,			/* 3d mov 8(%r8),%r10    nfault */
	0x4d, 0x8b, 0x48, 0x20,			/* 41 mov 32(%r8),%r9    fault_gpa */
	0x4d, 0x85, 0xd2,			/* 45 test %r10,%r10 */
	0x74, 0x0f,				/* 48 jz 59 */
	0x49, 0x8b, 0x01,			/* 4a mov (%r9),%rax */
	0x49, 0x81, 0xc1, 0x00, 0x10, 0x00, 0x00, /* 4d add $0x1000,%r9 */
	0x49, 0xff, 0xca,			/* 54 dec %r10 */
	0xeb, 0xec,				/* 57 jmp 45 */
	/* exit benchmark */
	0x49, 0x8b, 0x48, 0x10,			/* 59 mov 16(%r8),%rcx   nexit */
	0x48, 0x85, 0xc9,			/* 5d test %rcx,%rcx */
	0x74, 0x0f,				/* 60 jz 71 */
	0x66, 0xba, 0x13, 0x05,			/* 62 mov $PORT_LOOP_BEGIN,%dx */
	0xee,					/* 66 out %al,(%dx) */
	0x66, 0xba, 0x11, 0x05,			/* 67 mov $PORT_LOOP,%dx */
	0xee,					/* 6b out %al,(%dx) */
	0x48, 0xff, 0xc9,			/* 6c dec %rcx */
	0x75, 0xfa,				/* 6f jnz 6b */
	0xf4,					/* 71 hlt */
	0xeb, 0xfd,				/* 72 jmp 71 */
};

_Static_assert(sizeof(struct guest_hdr_swprot) == 48 &&
	       __builtin_offsetof(struct guest_hdr_swprot, hc_failed) == 40,
	       "guest_code_swprot writes hc_failed at offset 40");
_Static_assert(sizeof(struct guest_hc) == 24, "guest_code_swprot reads 24-byte entries");
_Static_assert(PM_KVM_HC_MAP_GPA_RANGE == 12, "the hypercall number is an immediate");

#define PTE_P		(1ull << 0)
#define PTE_RW		(1ull << 1)
#define PTE_US		(1ull << 2)
#define PTE_PS		(1ull << 7)

/*
 * Identity map of 0..4 GiB with 2 MiB pages, so both the main memory and
 * the fault window above it are reachable without further tables.  U/S
 * is set throughout: harmless for a CPL0 guest, and required by PVM's
 * native mode (workload.c), without it the vCPU never returns from
 * KVM_RUN once native.
 */
static void build_page_tables(uint8_t *mem)
{
	uint64_t *pml4 = (uint64_t *)(mem + GUEST_PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(mem + GUEST_PDPT_GPA);
	uint64_t *pd = (uint64_t *)(mem + GUEST_PD_GPA);
	const uint64_t f = PTE_P | PTE_RW | PTE_US;

	pml4[0] = GUEST_PDPT_GPA | f;
	for (int i = 0; i < 4; i++)
		pdpt[i] = (GUEST_PD_GPA + (uint64_t)i * PAGE_SIZE_4K) | f;
	for (uint64_t i = 0; i < GUEST_IDMAP_LIMIT / SZ_2M; i++)
		pd[i] = (i * SZ_2M) | f | PTE_PS;
}

void guest_load(struct vm *vm)
{
	memcpy(vm->mem + GUEST_CODE_GPA, guest_code, sizeof(guest_code));
	build_page_tables(vm->mem);
}

void guest_load_swprot(struct vm *vm)
{
	memcpy(vm->mem + GUEST_CODE_GPA, guest_code_swprot, sizeof(guest_code_swprot));
	build_page_tables(vm->mem);
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = code ? 0 : 1;	/* a 64-bit code segment must have D=0 */
	s->s = 1;
	s->l = code ? 1 : 0;
	s->g = 1;
}

void guest_set_regs(struct vm *vm)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		die_errno("KVM_GET_SREGS", errno);
	set_seg(&sregs.cs, 0x8, 0xb, 1);
	set_seg(&sregs.ds, 0x10, 0x3, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.cr0 = 0x80050033;	/* PG WP NE ET MP PE */
	sregs.cr3 = GUEST_PML4_GPA;
	sregs.cr4 = 0x20;	/* PAE */
	sregs.efer = 0x500;	/* LMA LME */
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		die_errno("KVM_SET_SREGS", errno);

	memset(&regs, 0, sizeof(regs));
	regs.rip = GUEST_CODE_GPA;
	regs.rsp = GUEST_STACK_TOP;
	regs.rflags = 0x2;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		die_errno("KVM_SET_REGS", errno);
}
