# privmem — see README.md and docs/design.md.
# `make deps` once (as root), then `make`, `make check`.
#
# The tree is the architecture: src/lib is libprivmem.a (books, trace codec,
# policy language, decide glue, capture loader, JSON), and each program is
# its own directory of sources linked against it: src/daemon (privmemd),
# src/cli (privmem), src/top (privmemtop). One source list per binary; the
# static (QEMU bed) and ASan variants are derived from the same lists.
PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

O := build
CFLAGS ?= -O2 -g
override CFLAGS += -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -Iinclude -Isrc/lib -I$(O) \
	-DPRIVMEM_VERSION='"$(VERSION)"'
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -Ibpf -Wall -Werror
ASAN_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Link flags, each library under its own name.
LDLIBS_BPF := -lbpf -lelf -lz
LDLIBS_JSON := -ljson-c
LDLIBS_YAML := -lyaml
LDLIBS_Z := -lz
LDLIBS_HTTP := -lmicrohttpd
LDLIBS_CURSES := $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw -ltinfo)
LDLIBS_CMOCKA := -lcmocka
# what anything linked against libprivmem.a may need (the archive pulls only what is used)
LDLIBS_LIB := $(LDLIBS_BPF) $(LDLIBS_YAML) $(LDLIBS_JSON)

# ------------------------------------------------------------- sources
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(O)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(O)/%.skel.h,$(BPF_SRCS))
HDRS := $(wildcard include/privmem/*.h) $(wildcard src/*/*.h)

LIB_SRCS := $(wildcard src/lib/*.c)
PRIVMEMD_SRCS := $(wildcard src/daemon/*.c)
PRIVMEM_SRCS := $(wildcard src/cli/*.c)
PRIVMEMTOP_SRCS := $(wildcard src/top/*.c)
TESTVMM_SRCS := $(wildcard tests/vmm/*.c)

objs = $(patsubst src/%.c,$(1)/%.o,$(2))
LIB_OBJS := $(call objs,$(O),$(LIB_SRCS))
LIB := $(O)/libprivmem.a
PRIVMEMD_OBJS := $(call objs,$(O),$(PRIVMEMD_SRCS))
PRIVMEM_OBJS := $(call objs,$(O),$(PRIVMEM_SRCS))
PRIVMEMTOP_OBJS := $(call objs,$(O),$(PRIVMEMTOP_SRCS))

PRIVMEMD_LIBS := $(LDLIBS_LIB) $(LDLIBS_HTTP)
PRIVMEM_LIBS := $(LDLIBS_LIB)
PRIVMEMTOP_LIBS := $(LDLIBS_LIB) $(LDLIBS_CURSES) -lm

PROGS := $(O)/privmemd $(O)/privmem $(O)/privmemtop $(O)/testvmm
UNIT_TESTS := $(patsubst tests/unit/%.c,$(O)/%,$(wildcard tests/unit/test_*.c))
KTEST_BINS := $(O)/bpf_inject_test $(O)/gtcompare $(O)/sockjunk $(O)/jpath
TRACE_TOOLS := $(O)/tracegen $(O)/jsoneq $(O)/chromecheck
BENCH_BINS := $(O)/sysloop $(O)/ingest $(O)/burst $(O)/replaybench $(O)/tracegen

.PHONY: all deps check unit ktest vmtest bench demo install clean manlint static
all: $(PROGS)

deps:
	./scripts/deps.sh

# ------------------------------------------------------------- BPF
$(O)/%.bpf.o: bpf/%.bpf.c $(HDRS) $(wildcard bpf/*.h) | $(O)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(O)/decide.bpf.o: tests/unit/decide.bpf.c include/privmem/decide.h include/privmem/events.h | $(O)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
# keep the objects: make would delete them as intermediates (after the test tally)
.SECONDARY: $(BPF_OBJS) $(O)/decide.bpf.o
$(O)/%.skel.h: $(O)/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@

# ------------------------------------------------------------- objects
$(O):
	mkdir -p $@
$(O)/%.o: src/%.c $(HDRS) $(SKELS) | $(O)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(LIB): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

# ------------------------------------------------------------- programs
$(O)/privmemd: $(PRIVMEMD_OBJS) $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(PRIVMEMD_LIBS)
$(O)/privmem: $(PRIVMEM_OBJS) $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(PRIVMEM_LIBS)
$(O)/privmemtop: $(PRIVMEMTOP_OBJS) $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(PRIVMEMTOP_LIBS)
$(O)/testvmm: $(TESTVMM_SRCS) $(wildcard tests/vmm/*.h) include/privmem/kvm_abi.h | $(O)
	$(CC) $(CFLAGS) -Itests/vmm $(filter %.c,$^) -o $@

# Static binaries for the QEMU test bed's initramfs (tests/vmtest): the same
# objects, linked -static; only metrics_http.c differs (no libmicrohttpd there).
$(O)/static/daemon/metrics_http.o: src/daemon/metrics_http.c $(HDRS) | $(O)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DPM_NO_HTTP -c $< -o $@
STATIC_PRIVMEMD_OBJS := $(filter-out $(O)/daemon/metrics_http.o,$(PRIVMEMD_OBJS)) $(O)/static/daemon/metrics_http.o
static: $(O)/static/privmemd $(O)/static/privmem $(O)/static/testvmm $(O)/static/gtcompare $(O)/static/jpath
$(O)/static/privmemd: $(STATIC_PRIVMEMD_OBJS) $(LIB)
	$(CC) $(CFLAGS) -static $^ -o $@ $(LDLIBS_LIB)
$(O)/static/privmem: $(PRIVMEM_OBJS) $(LIB)
	$(CC) $(CFLAGS) -static $^ -o $@ $(PRIVMEM_LIBS)
$(O)/static/testvmm: $(TESTVMM_SRCS) $(wildcard tests/vmm/*.h) include/privmem/kvm_abi.h | $(O)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -Itests/vmm $(filter %.c,$^) -o $@
$(O)/static/gtcompare $(O)/static/jpath: $(O)/static/%: tests/kernel/%.c tests/kernel/ktest.h $(LIB) | $(O)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static $< $(LIB) -o $@ $(LDLIBS_JSON)

# ASan+UBSan variants (tests/trace): the library and the CLI built from
# the same source lists with sanitizers.
ASAN_LIB_OBJS := $(call objs,$(O)/asan,$(LIB_SRCS))
$(O)/asan/%.o: src/%.c $(HDRS) $(SKELS) | $(O)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ASAN_CFLAGS) -c $< -o $@
$(O)/asan/libprivmem.a: $(ASAN_LIB_OBJS)
	rm -f $@
	ar rcs $@ $^
$(O)/asan/test_trace: tests/unit/test_trace.c tests/trace/synth.h $(O)/asan/libprivmem.a
	$(CC) $(CFLAGS) $(ASAN_CFLAGS) $(filter %.c %.a,$^) -o $@ $(LDLIBS_LIB) $(LDLIBS_CMOCKA)
$(O)/asan/privmem: $(call objs,$(O)/asan,$(PRIVMEM_SRCS)) $(O)/asan/libprivmem.a
	$(CC) $(CFLAGS) $(ASAN_CFLAGS) $^ -o $@ $(PRIVMEM_LIBS)

# ------------------------------------------------------------- tests
$(O)/test_%: tests/unit/test_%.c $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS_LIB) $(LDLIBS_CMOCKA)
$(O)/test_metrics: tests/unit/test_metrics.c $(O)/daemon/metrics_render.o $(LIB)
	$(CC) $(CFLAGS) -Isrc/daemon $^ -o $@ $(LDLIBS_LIB) $(LDLIBS_CMOCKA)
$(O)/test_top_model: tests/unit/test_top_model.c $(O)/top/top_model.o $(LIB)
	$(CC) $(CFLAGS) -Isrc/top $^ -o $@ $(LDLIBS_LIB) $(LDLIBS_CMOCKA)
$(O)/test_trace: tests/unit/test_trace.c tests/trace/synth.h $(LIB)
	$(CC) $(CFLAGS) $(filter %.c %.a,$^) -o $@ $(LDLIBS_LIB) $(LDLIBS_CMOCKA)
$(O)/decide_bpf: tests/unit/decide_bpf.c $(O)/decide.skel.h include/privmem/decide.h | $(O)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS_BPF)
$(O)/bpf_inject_test: tests/kernel/bpf_inject_test.c $(O)/capture.skel.h $(LIB)
	$(CC) $(CFLAGS) $(filter %.c %.a,$^) -o $@ $(LDLIBS_LIB)
$(O)/gtcompare $(O)/jpath: $(O)/%: tests/kernel/%.c tests/kernel/ktest.h $(LIB) | $(O)
	$(CC) $(CFLAGS) $< $(LIB) -o $@ $(LDLIBS_JSON)
$(O)/sockjunk: tests/kernel/sockjunk.c | $(O)
	$(CC) $(CFLAGS) $< -o $@
$(O)/tracegen: tests/trace/tracegen.c tests/trace/synth.h $(LIB)
	$(CC) $(CFLAGS) $(filter %.c %.a,$^) -o $@ $(LDLIBS_LIB)
$(O)/jsoneq $(O)/chromecheck: $(O)/%: tests/trace/%.c | $(O)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS_JSON)
$(O)/sysloop: tests/bench/sysloop.c | $(O)
	$(CC) $(CFLAGS) $< -o $@
$(O)/ingest: tests/bench/ingest.c $(O)/capture.skel.h $(LIB)
	$(CC) $(CFLAGS) $(filter %.c %.a,$^) -o $@ $(LDLIBS_LIB) -lpthread
$(O)/burst.bpf.o: tests/bench/burst.bpf.c include/privmem/events.h | $(O)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
.SECONDARY: $(O)/burst.bpf.o
$(O)/burst: tests/bench/burst.c $(O)/burst.skel.h $(LIB)
	$(CC) $(CFLAGS) $(filter %.c %.a,$^) -o $@ $(LDLIBS_LIB)
$(O)/replaybench: tests/bench/replaybench.c $(LIB)
	$(CC) $(CFLAGS) $(filter %.c %.a,$^) -o $@ $(LDLIBS_LIB)

# Stages of `make check`, in order; add yours with CHECK_STAGES += name.
#   unit        cmocka suites, decide.h compiled for BPF
#   ktest       real-kernel books vs testvmm's ground truth (tests/kernel)
#   policy      `privmem policy` and decide.h in the kernel vs userspace
#   metricstest /metrics under promtool and a real prometheus (tests/metrics)
#   tracetest   the trace format and its corruption cases under ASan+UBSan
#   tracektest  record/replay of real testvmm runs (tests/trace)
#   policyktest policy audit, reloads and what-if on this kernel
#   vmtest      the QEMU bed: real private memory and a real BPF LSM
#   toptest     privmemtop under tmux (tests/top)
CHECK_STAGES := unit ktest manlint policy metricstest tracetest tracektest policyktest vmtest toptest
check: all
	@./scripts/check.sh $(CHECK_STAGES)

# every binary runs, whichever fails; a crash or non-zero exit fails the stage
unit: $(UNIT_TESTS) $(O)/decide.bpf.o
	@rc=0; for t in $(UNIT_TESTS); do echo "== $$t"; $$t || { echo "FAIL $$t: exit $$?"; rc=1; }; done; exit $$rc
ktest: all $(KTEST_BINS)
	./tests/kernel/run.sh
manlint:
	mandoc -Tlint -W warning man/*.[0-9]
	@echo "$(words $(wildcard man/*.[0-9])) passed, 0 failed"
.PHONY: policy metricstest tracetest tracektest policyktest toptest
policy: $(O)/privmem $(O)/decide_bpf
	@rc=0; ./tests/unit/policy_cli.sh || rc=1; $(O)/decide_bpf || rc=1; exit $$rc
metricstest: all
	./tests/metrics/run.sh
tracetest: $(O)/asan/test_trace $(O)/asan/privmem $(TRACE_TOOLS)
	./tests/trace/run.sh
tracektest: all $(TRACE_TOOLS) $(O)/gtcompare
	./tests/trace/ktest.sh
policyktest: all $(O)/jpath
	./tests/kernel/policy_audit.sh
vmtest: all static
	./tests/vmtest/run.sh
toptest: all
	./tests/top/run.sh

bench: all static $(BENCH_BINS) $(TRACE_TOOLS)
	./tests/bench/run.sh
	./tests/bench/scale.sh
# privmem beside bpftrace, ftrace/trace-cmd and perf on one workload
.PHONY: bench-peers
bench-peers: all $(BENCH_BINS)
	./tests/bench/peers.sh
# one short round of the host measurements: the bench builds and measures
.PHONY: benchcheck
benchcheck: all $(BENCH_BINS)
	BENCH_SMOKE=1 ./tests/bench/run.sh

# the demo runs privmemd --syscall-hooks: where the kernel refuses fentry/fexit
# the VMM's attempts are seen only that way (scripts/demo.sh says so)
demo: deps all $(KTEST_BINS)
	./scripts/demo.sh

# ------------------------------------------------------------- install
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(PREFIX)/share/privmem/policies \
		$(DESTDIR)$(PREFIX)/share/privmem/prometheus $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(O)/privmemd $(DESTDIR)$(SBINDIR)/privmemd
	install -m 0755 $(O)/privmemtop $(DESTDIR)$(SBINDIR)/privmemtop
	install -m 0755 $(O)/privmem $(DESTDIR)$(BINDIR)/privmem
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 dist/privmemd.service $(DESTDIR)$(SYSTEMDUNITDIR)/
	install -m 0644 dist/bash-completion/privmem $(DESTDIR)$(BASHCOMPDIR)/privmem
	install -m 0644 policies/*.yaml policies/*.json $(DESTDIR)$(PREFIX)/share/privmem/policies/
	install -m 0644 dist/prometheus/*.yml $(DESTDIR)$(PREFIX)/share/privmem/prometheus/

clean:
	rm -rf $(O)

# Topic fragments (fuzzing, packaging, ...): one file each.
-include $(wildcard mk/*.mk)
