# privmem — see README.md.  `make deps` once (as root), then `make`, `make check`.
PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man

CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

O := build
CFLAGS ?= -O2 -g
override CFLAGS += -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -Iinclude -I$(O) \
	-DPRIVMEM_VERSION='"$(VERSION)"'
LDLIBS_BPF := -lbpf -lelf -lz
LDLIBS_JSON := -ljson-c
LDLIBS_HTTP := -lmicrohttpd
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -Ibpf -Wall -Werror

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(O)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(O)/%.skel.h,$(BPF_SRCS))
HDRS := $(wildcard include/privmem/*.h) $(wildcard src/*.h)

# Library objects shared by privmemd, privmem and the tests.
LIB_SRCS := src/hist.c src/vmstate.c src/vmjson.c src/ksyms.c src/sockapi.c src/util.c
LIB_OBJS := $(patsubst src/%.c,$(O)/%.o,$(LIB_SRCS))

PROGS := $(O)/privmemd $(O)/privmem $(O)/testvmm
UNIT_TESTS := $(patsubst tests/unit/%.c,$(O)/%,$(wildcard tests/unit/test_*.c))
KTEST_BINS := $(O)/bpf_inject_test $(O)/gtcompare $(O)/sockjunk $(O)/jpath

.PHONY: all deps check unit ktest vmtest bench demo install clean manlint
all: $(PROGS)

deps:
	./scripts/deps.sh

$(O):
	mkdir -p $@

$(O)/%.bpf.o: bpf/%.bpf.c $(HDRS) $(wildcard bpf/*.h) | $(O)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# keep the objects: make would delete them as intermediates (after the test tally)
.SECONDARY: $(BPF_OBJS) $(O)/decide.bpf.o
$(O)/%.skel.h: $(O)/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@

$(O)/%.o: src/%.c $(HDRS) $(SKELS) | $(O)
	$(CC) $(CFLAGS) -c $< -o $@

$(O)/privmemd: $(O)/privmemd.o $(O)/capture.o $(O)/metrics.o $(LIB_OBJS)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS_BPF) $(LDLIBS_JSON) $(LDLIBS_HTTP)

$(O)/privmem: $(O)/privmem.o $(LIB_OBJS)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS_JSON)

$(O)/testvmm: $(wildcard tests/vmm/*.c) $(wildcard tests/vmm/*.h) include/privmem/kvm_abi.h | $(O)
	$(CC) $(CFLAGS) -Itests/vmm $(filter %.c,$^) -o $@

$(O)/test_%: tests/unit/test_%.c $(LIB_OBJS)
	$(CC) $(CFLAGS) -Isrc $^ -o $@ $(LDLIBS_JSON) -lcmocka

$(O)/test_metrics: tests/unit/test_metrics.c $(O)/metrics.o $(LIB_OBJS)
	$(CC) $(CFLAGS) -Isrc $^ -o $@ $(LDLIBS_JSON) $(LDLIBS_HTTP) -lcmocka

$(O)/bpf_inject_test: tests/kernel/bpf_inject_test.c $(O)/capture.skel.h $(LIB_OBJS)
	$(CC) $(CFLAGS) -Isrc $(filter %.c %.o,$^) -o $@ $(LDLIBS_BPF) $(LDLIBS_JSON)

# every binary runs, whichever fails; a crash or non-zero exit fails the stage
unit: $(UNIT_TESTS)
	@rc=0; for t in $(UNIT_TESTS); do echo "== $$t"; $$t || { echo "FAIL $$t: exit $$?"; rc=1; }; done; exit $$rc

ktest: all $(KTEST_BINS)
	./tests/kernel/run.sh

vmtest: all static
	./tests/vmtest/run.sh

manlint:
	mandoc -Tlint -W warning man/*.[0-9]
	@echo "$(words $(wildcard man/*.[0-9])) passed, 0 failed"

# Stages of `make check`, in order; add yours with CHECK_STAGES += name.
CHECK_STAGES := unit ktest manlint
check: all
	@./scripts/check.sh $(CHECK_STAGES)

bench: all static $(BENCH_BINS)
	./tests/bench/run.sh

demo: deps all $(KTEST_BINS)
	./scripts/demo.sh

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(O)/privmemd $(DESTDIR)$(SBINDIR)/privmemd
	install -m 0755 $(O)/privmem $(DESTDIR)$(BINDIR)/privmem
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/

clean:
	rm -rf $(O)

$(O)/gtcompare: tests/kernel/gtcompare.c tests/kernel/ktest.h | $(O)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS_JSON)

$(O)/sockjunk: tests/kernel/sockjunk.c | $(O)
	$(CC) $(CFLAGS) $< -o $@

BENCH_BINS := $(O)/sysloop $(O)/ingest
$(O)/sysloop: tests/bench/sysloop.c | $(O)
	$(CC) $(CFLAGS) $< -o $@

$(O)/ingest: tests/bench/ingest.c $(O)/capture.skel.h $(LIB_OBJS)
	$(CC) $(CFLAGS) -Isrc $(filter %.c %.o,$^) -o $@ $(LDLIBS_BPF) $(LDLIBS_JSON) -lpthread

# Static binaries for the QEMU test bed's initramfs (tests/vmtest).
STATIC_CC = $(CC) $(CFLAGS) -Isrc -static
.PHONY: static
static: $(O)/static/privmemd $(O)/static/privmem $(O)/static/testvmm $(O)/static/gtcompare $(O)/static/jpath
$(O)/static:
	mkdir -p $@
$(O)/static/privmemd: src/privmemd.c src/capture.c src/metrics.c $(LIB_SRCS) $(SKELS) $(HDRS) | $(O)/static
	$(STATIC_CC) -DPM_NO_HTTP $(filter %.c,$^) -o $@ $(LDLIBS_BPF) $(LDLIBS_JSON)
$(O)/static/privmem: src/privmem.c $(LIB_SRCS) $(HDRS) | $(O)/static
	$(STATIC_CC) $(filter %.c,$^) -o $@ $(LDLIBS_JSON)
$(O)/static/testvmm: $(wildcard tests/vmm/*.c) $(wildcard tests/vmm/*.h) | $(O)/static
	$(STATIC_CC) -Itests/vmm $(filter %.c,$^) -o $@
$(O)/static/gtcompare: tests/kernel/gtcompare.c | $(O)/static
	$(STATIC_CC) $< -o $@ $(LDLIBS_JSON)
$(O)/static/jpath: tests/kernel/jpath.c | $(O)/static
	$(STATIC_CC) $< -o $@ $(LDLIBS_JSON)

# Policy: the language (policy.c), `privmem policy` (policy_cmd.c), and
# decide.h, which BPF must compile unchanged: `unit` builds it for BPF,
# `policy` runs it in the kernel against userspace and checks the CLI.
LDLIBS_YAML := -lyaml
POLICY_OBJS := $(O)/policy.o $(O)/policy_cmd.o
$(O)/privmem: $(POLICY_OBJS)
$(O)/privmem: LDLIBS_JSON += $(LDLIBS_YAML)
$(O)/static/privmem: src/policy.c src/policy_cmd.c
$(O)/static/privmem: LDLIBS_JSON += $(LDLIBS_YAML)
$(O)/test_policy: $(O)/policy.o
$(O)/test_policy: LDLIBS_JSON += $(LDLIBS_YAML)
$(O)/decide.bpf.o: tests/unit/decide.bpf.c include/privmem/decide.h include/privmem/events.h | $(O)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(O)/decide_bpf: tests/unit/decide_bpf.c $(O)/decide.skel.h include/privmem/decide.h | $(O)
	$(CC) $(CFLAGS) -Isrc $< -o $@ $(LDLIBS_BPF)
unit: $(O)/decide.bpf.o
.PHONY: policy install-policy
policy: $(O)/privmem $(O)/decide_bpf
	@./tests/unit/policy_cli.sh
	@$(O)/decide_bpf
CHECK_STAGES += policy
install: install-policy
install-policy:
	install -d $(DESTDIR)$(MANDIR)/man5
	install -m 0644 man/privmem.policy.5 $(DESTDIR)$(MANDIR)/man5/

# privmemd --metrics checked by promtool and scraped by a real prometheus on
# loopback (tests/metrics); privmemtop under tmux (tests/top).
.PHONY: metricstest
metricstest: all
	./tests/metrics/run.sh
CHECK_STAGES += metricstest

# Flight-recorder trace (privmem-trace(5)): the format (trace.c), the
# recorder (privmemd --record, privmem record), replay and export. `tracetest`
# runs the format's tests and the corruption cases under ASan+UBSan (no
# kernel needed); `tracektest` records real testvmm runs and replays them.
TRACE_OBJS := $(O)/trace.o $(O)/recorder.o $(O)/replay.o $(O)/export.o
$(O)/privmemd: $(O)/trace.o $(O)/recorder.o
$(O)/privmem: $(O)/cmd_trace.o $(O)/capture.o $(TRACE_OBJS)
$(O)/privmem: LDLIBS_JSON += $(LDLIBS_BPF)
$(O)/static/privmemd: src/trace.c src/recorder.c
$(O)/static/privmem: src/cmd_trace.c src/capture.c src/trace.c src/recorder.c src/replay.c src/export.c $(SKELS)
$(O)/static/privmem: LDLIBS_JSON += $(LDLIBS_BPF)
$(O)/test_trace: tests/unit/test_trace.c tests/trace/synth.h $(TRACE_OBJS) $(LIB_OBJS)
	$(CC) $(CFLAGS) -Isrc $(filter %.c %.o,$^) -o $@ $(LDLIBS_JSON) -lz -lcmocka
TRACE_TOOLS := $(O)/tracegen $(O)/jsoneq $(O)/chromecheck
$(O)/tracegen: tests/trace/tracegen.c tests/trace/synth.h $(O)/trace.o $(LIB_OBJS)
	$(CC) $(CFLAGS) -Isrc $(filter %.c %.o,$^) -o $@ $(LDLIBS_JSON) -lz
$(O)/jsoneq $(O)/chromecheck: $(O)/%: tests/trace/%.c | $(O)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS_JSON)
ASAN_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
TRACE_SRCS := src/trace.c src/recorder.c src/replay.c src/export.c
$(O)/asan:
	mkdir -p $@
$(O)/asan/test_trace: tests/unit/test_trace.c $(TRACE_SRCS) $(LIB_SRCS) $(HDRS) | $(O)/asan
	$(CC) $(CFLAGS) $(ASAN_CFLAGS) -Isrc $(filter %.c,$^) -o $@ $(LDLIBS_JSON) -lz -lcmocka
$(O)/asan/privmem-trace: tests/trace/asan_cli.c src/cmd_trace.c src/capture.c $(TRACE_SRCS) $(LIB_SRCS) $(SKELS) $(HDRS) | $(O)/asan
	$(CC) $(CFLAGS) $(ASAN_CFLAGS) -Isrc $(filter %.c,$^) -o $@ $(LDLIBS_BPF) $(LDLIBS_JSON)
.PHONY: tracetest tracektest
tracetest: $(O)/asan/test_trace $(O)/asan/privmem-trace $(TRACE_TOOLS)
	./tests/trace/run.sh
tracektest: all $(TRACE_TOOLS) $(O)/gtcompare
	./tests/trace/ktest.sh
CHECK_STAGES += tracetest tracektest

# privmem-trace(5)
install: install-trace-man
.PHONY: install-trace-man
install-trace-man:
	install -d $(DESTDIR)$(MANDIR)/man5
	install -m 0644 man/privmem-trace.5 $(DESTDIR)$(MANDIR)/man5/

# privmemd's policy (src/dpolicy.c): -c FILE, reload on SIGHUP and via the socket.
$(O)/privmemd: $(O)/dpolicy.o $(O)/policy.o
$(O)/privmemd: LDLIBS_HTTP += $(LDLIBS_YAML)
$(O)/static/privmemd: src/dpolicy.c src/policy.c
$(O)/static/privmemd: LDLIBS_JSON += $(LDLIBS_YAML)
$(O)/jpath: tests/kernel/jpath.c | $(O)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS_JSON)

# Policy on this kernel: audit, reloads, refusals (enforcement: make vmtest).
.PHONY: policyktest
policyktest: all $(O)/jpath
	./tests/kernel/policy_audit.sh
CHECK_STAGES += policyktest

# The QEMU bed (tests/vmtest): real private memory and a real BPF LSM.
CHECK_STAGES += vmtest

# privmemtop(8): the live view (htop split: model, view, crt, source).
LDLIBS_CURSES := $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw -ltinfo)
TOP_OBJS := $(O)/top_model.o $(O)/top_view.o $(O)/top_crt.o $(O)/top_source.o
$(O)/privmemtop: $(O)/privmemtop.o $(TOP_OBJS) $(O)/capture.o $(O)/trace.o $(O)/replay.o $(LIB_OBJS)
	$(CC) $(CFLAGS) $(filter %.o,$^) -o $@ $(LDLIBS_BPF) $(LDLIBS_JSON) $(LDLIBS_CURSES) -lm
all: $(O)/privmemtop
$(O)/test_top_model: tests/unit/test_top_model.c $(O)/top_model.o $(LIB_OBJS)
	$(CC) $(CFLAGS) -Isrc $^ -o $@ $(LDLIBS_JSON) -lcmocka
.PHONY: toptest install-top
toptest: all
	./tests/top/run.sh
CHECK_STAGES += toptest
install: install-top
install-top: $(O)/privmemtop
	install -d $(DESTDIR)$(SBINDIR)
	install -m 0755 $(O)/privmemtop $(DESTDIR)$(SBINDIR)/privmemtop

# Trace benches: bytes per event and replay speed against trace-cmd and perf.
BENCH_TRACE := $(O)/replaybench $(O)/tracegen
$(O)/replaybench: tests/bench/replaybench.c $(TRACE_OBJS) $(LIB_OBJS)
	$(CC) $(CFLAGS) -Isrc $(filter %.c %.o,$^) -o $@ $(LDLIBS_JSON) -lz
bench: $(BENCH_TRACE) $(TRACE_TOOLS)

# replay --policy: what a policy would have denied (src/whatif.c, decide.h)
$(O)/privmem: $(O)/whatif.o
$(O)/static/privmem: src/whatif.c
$(O)/asan/privmem-trace: src/whatif.c src/policy.c
$(O)/asan/privmem-trace: LDLIBS_JSON += $(LDLIBS_YAML)

# the systemd unit, alert rules and example policies
install: install-dist
.PHONY: install-dist
install-dist:
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/privmem/policies \
		$(DESTDIR)$(PREFIX)/share/privmem/prometheus
	install -m 0644 dist/privmemd.service $(DESTDIR)$(PREFIX)/lib/systemd/system/
	install -m 0644 policies/*.yaml policies/*.json $(DESTDIR)$(PREFIX)/share/privmem/policies/
	install -m 0644 dist/prometheus/*.yml $(DESTDIR)$(PREFIX)/share/privmem/prometheus/
