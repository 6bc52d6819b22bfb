// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * --churn N: VMs made and destroyed as fast as KVM allows, the load under
 * which a watcher that keys its books on the struct kvm address sees the
 * same address come back again and again.  Per VM: KVM_CREATE_VM, one
 * small guest_memfd where KVM has them, ONE KVM_SET_MEMORY_ATTRIBUTES
 * (PRIVATE over that gmem's size from gpa 0), no memslot, no vCPU, then
 * the destroy:
 *  - normally by closing its fds here (guest_memfd first, the VM fd last,
 *    as vm_destroy() does);
 *  - every K-th (--churn-pass-every) by sending both fds over a UNIX
 *    socket (SCM_RIGHTS) to a helper child forked at start, closing ours
 *    and waiting for the helper to say it closed them: the last
 *    reference then goes in another process than the VM's creator, the
 *    case where privmem once leaked kernel state.  Waiting for the ack
 *    keeps the order of destroys the order of creations;
 *  - every M-th (--churn-hold-every) not at all until the run is over:
 *    these VMs are alive through the report and --hold-ms, so a test can
 *    check that live VMs are still watched after the churn.
 * Every fd is accounted for: /proc/self/fd is counted before and after
 * ("fd_leak", held VMs' fds taken off), the helper counts its own
 * ("helper_fd_leak").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

#define CHURN_GMEM_SIZE		SZ_2M
#define ACK_OK			'k'
#define ACK_BAD			'x'

struct churn_vm {
	int vm_fd;
	int gmem_fd;		/* -1 without guest_memfd */
};

struct churn_truth {
	uint64_t vms, passed, held, attempts, conversions, gmem_created;
	uint64_t attempt_errno[ERRNO_SLOTS];	/* the last slot collects the rest */
	uint64_t elapsed_ns;
	int64_t fd_leak;
	int64_t helper_fd_leak;
};

struct churn {
	const struct opts *o;
	const struct vm *kvm;	/* /dev/kvm and what it offers */
	int sock;		/* to the helper; -1 without --churn-pass-every */
	pid_t helper;
	struct churn_vm *held;
	struct churn_truth ct;
};

/* Open fds of this process, not counting the one that lists them. */
static int64_t count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int64_t n = 0;

	if (!d)
		die_errno("opendir(/proc/self/fd)", errno);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* every (K or M) 0 is never; else the K-th, 2K-th, ... VM (1-based) */
static bool every(uint64_t k, uint64_t i)
{
	return k && (i + 1) % k == 0;
}

/*
 * The helper: closes whatever fds arrive and says so; on the parent's
 * shutdown, sends how many more fds it has open than when it started.
 * The data byte is how many fds the parent sent, so a lost one is seen.
 */
static void __attribute__((noreturn)) helper_main(int sock)
{
	int64_t fds0 = count_fds(), leak;

	for (;;) {
		union { char buf[CMSG_SPACE(2 * sizeof(int))]; struct cmsghdr align; } cbuf;
		char nsent, ack = ACK_OK;
		struct iovec iov = { .iov_base = &nsent, .iov_len = 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf) };
		int got = 0;
		ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			int fds[2];
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || k > 2)
				continue;
			memcpy(fds, CMSG_DATA(c), k * sizeof(int));
			for (size_t j = 0; j < k; j++, got++)
				if (close(fds[j]) < 0)
					ack = ACK_BAD;
		}
		if ((m.msg_flags & MSG_CTRUNC) || got != nsent)
			ack = ACK_BAD;
		if (send(sock, &ack, 1, MSG_NOSIGNAL) != 1)
			_exit(1);
	}
	leak = count_fds() - fds0;
	_exit(send(sock, &leak, sizeof(leak), MSG_NOSIGNAL) == sizeof(leak) ? 0 : 1);
}

/* Forked before any VM exists, so the helper holds nothing but what it is sent. */
static void helper_start(struct churn *c)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		die_errno("socketpair", errno);
	fflush(NULL);	/* nothing buffered is written twice */
	c->helper = fork();
	if (c->helper < 0)
		die_errno("fork", errno);
	if (c->helper == 0) {
		close(sv[0]);
		close(c->kvm->kvm_fd);
		helper_main(sv[1]);
	}
	close(sv[1]);
	c->sock = sv[0];
}

/* The helper's last word: its own fd balance; then it is reaped. */
static void helper_stop(struct churn *c)
{
	int64_t leak;
	int status;

	if (c->sock < 0)
		return;
	if (shutdown(c->sock, SHUT_WR) < 0)
		die_errno("shutdown(helper socket)", errno);
	if (recv(c->sock, &leak, sizeof(leak), 0) != sizeof(leak)) {
		fprintf(stderr, "testvmm: churn: the helper did not report its fds\n");
		exit(1);
	}
	close(c->sock);
	c->sock = -1;
	if (waitpid(c->helper, &status, 0) < 0)
		die_errno("waitpid(helper)", errno);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "testvmm: churn: the helper failed (status %#x)\n", status);
		exit(1);
	}
	c->ct.helper_fd_leak = leak;
}

/* Destroyed elsewhere: the last references go in the helper, before its ack. */
static void pass_vm(struct churn *c, const struct churn_vm *v)
{
	union { char buf[CMSG_SPACE(2 * sizeof(int))]; struct cmsghdr align; } cbuf;
	int fds[2] = { v->gmem_fd, v->vm_fd };	/* the helper closes them in this order */
	int nfds = v->gmem_fd >= 0 ? 2 : 1;
	const int *first = nfds == 2 ? fds : fds + 1;
	char nsent = (char)nfds, ack;
	struct iovec iov = { .iov_base = &nsent, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			    .msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int)) };
	struct cmsghdr *cm;
	ssize_t n;

	memset(&cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), first, (size_t)nfds * sizeof(int));
	if (sendmsg(c->sock, &m, MSG_NOSIGNAL) != 1)
		die_errno("sendmsg(SCM_RIGHTS to the helper)", errno);
	if (v->gmem_fd >= 0)
		close(v->gmem_fd);
	close(v->vm_fd);
	do
		n = recv(c->sock, &ack, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n != 1 || ack != ACK_OK) {
		fprintf(stderr, "testvmm: churn: VM %llu: the helper did not close what it was sent\n",
			(unsigned long long)c->ct.vms);
		exit(1);
	}
	c->ct.passed++;
}

static void close_vm(const struct churn_vm *v)
{
	if (v->gmem_fd >= 0)
		close(v->gmem_fd);
	close(v->vm_fd);
}

/* The one attribute call each VM makes: counted by its result. */
static void attempt(struct churn *c, int vm_fd)
{
	struct pm_kvm_memory_attributes a = {
		.address = 0, .size = CHURN_GMEM_SIZE, .attributes = PM_KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	int err = ioctl(vm_fd, PM_KVM_SET_MEMORY_ATTRIBUTES, &a) < 0 ? errno : 0;

	c->ct.attempts++;
	if (!err)
		c->ct.conversions++;
	else
		c->ct.attempt_errno[err < ERRNO_SLOTS - 1 ? err : ERRNO_SLOTS - 1]++;
}

static void churn_one(struct churn *c, uint64_t i)
{
	struct churn_vm v = { .gmem_fd = -1 };

	v.vm_fd = ioctl(c->kvm->kvm_fd, PM_KVM_CREATE_VM, (void *)(uintptr_t)c->o->vm_type);
	if (v.vm_fd < 0)
		die_errno("KVM_CREATE_VM", errno);
	if (c->kvm->has_gmem) {
		struct pm_kvm_create_guest_memfd g = {
			.size = CHURN_GMEM_SIZE, .flags = c->o->gmem_flags,
		};

		v.gmem_fd = ioctl(v.vm_fd, PM_KVM_CREATE_GUEST_MEMFD, &g);
		if (v.gmem_fd < 0)
			die_errno("KVM_CREATE_GUEST_MEMFD", errno);
		c->ct.gmem_created++;
	}
	attempt(c, v.vm_fd);
	c->ct.vms++;
	if (every(c->o->churn_hold_every, i))
		c->held[c->ct.held++] = v;
	else if (every(c->o->churn_pass_every, i))
		pass_vm(c, &v);
	else
		close_vm(&v);
	if (c->o->verbose)
		fprintf(stderr, "testvmm: churn: VM %llu\n", (unsigned long long)i);
}

static int held_fds(const struct churn *c)
{
	return (int)c->ct.held * (c->kvm->has_gmem ? 2 : 1);
}

/* Held VMs keep 1 or 2 fds each: the soft limit goes up to the hard one if they need it. */
static void room_for_held(uint64_t nheld)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= nheld * 2 + 64)
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static int put_churn(FILE *f, const void *ctx)
{
	const struct churn *c = ctx;
	const struct churn_truth *t = &c->ct;
	const char *sep = "";
	char eb[16];

	fprintf(f, "{\"pid\":%d,\"vm_type\":%llu,\"gmem\":{\"size\":%llu,\"flags\":%llu}",
		(int)getpid(), (unsigned long long)c->o->vm_type,
		(unsigned long long)(c->kvm->has_gmem ? CHURN_GMEM_SIZE : 0),
		(unsigned long long)(c->kvm->has_gmem ? c->o->gmem_flags : 0));
	report_put_host(f, c->kvm);
	fprintf(f, ",\"churn\":{\"vms\":%llu,\"passed\":%llu,\"held\":%llu,\"attempts\":%llu,"
		"\"attempt_errno\":{", (unsigned long long)t->vms, (unsigned long long)t->passed,
		(unsigned long long)t->held, (unsigned long long)t->attempts);
	for (int e = 0; e < ERRNO_SLOTS; e++) {
		if (!t->attempt_errno[e])
			continue;
		fprintf(f, "%s\"%s\":%llu", sep, errno_name(e, eb, sizeof(eb)),
			(unsigned long long)t->attempt_errno[e]);
		sep = ",";
	}
	fprintf(f, "},\"conversions\":%llu,\"gmem_created\":%llu,\"elapsed_ns\":%llu,"
		"\"fd_leak\":%lld,\"helper_fd_leak\":%lld}}\n",
		(unsigned long long)t->conversions, (unsigned long long)t->gmem_created,
		(unsigned long long)t->elapsed_ns, (long long)t->fd_leak,
		(long long)t->helper_fd_leak);
	return 0;
}

int churn_run(const struct opts *o, struct vm *kvm)
{
	static struct churn c;	/* large: keep it off the stack */
	int64_t fds0;
	uint64_t t0;
	int rc = 0;

	vm_check_type(kvm, o);
	c.o = o;
	c.kvm = kvm;
	c.sock = -1;
	c.held = calloc(o->churn_hold_every ? o->churn / o->churn_hold_every + 1 : 1,
			sizeof(*c.held));
	if (!c.held)
		die_errno("calloc", ENOMEM);
	if (o->churn_hold_every)
		room_for_held(o->churn / o->churn_hold_every);

	fds0 = count_fds();
	if (o->churn_pass_every)
		helper_start(&c);
	t0 = now_ns();
	for (uint64_t i = 0; i < o->churn; i++)
		churn_one(&c, i);
	c.ct.elapsed_ns = now_ns() - t0;
	helper_stop(&c);
	c.ct.fd_leak = count_fds() - fds0 - held_fds(&c);

	fprintf(stderr, "testvmm: churn: %llu VMs (%llu passed, %llu held) in %.1f ms, %.0f VMs/s\n",
		(unsigned long long)c.ct.vms, (unsigned long long)c.ct.passed,
		(unsigned long long)c.ct.held, (double)c.ct.elapsed_ns / 1e6,
		c.ct.elapsed_ns ? (double)c.ct.vms * 1e9 / (double)c.ct.elapsed_ns : 0.0);
	if (report_put_json(o->json, put_churn, &c) < 0)
		rc = 1;
	else if (o->hold_ms)
		sleep_ms(o->hold_ms);
	for (uint64_t i = 0; i < c.ct.held; i++)
		close_vm(&c.held[i]);
	free(c.held);
	return rc;
}
