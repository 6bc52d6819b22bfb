# libFuzzer targets (tests/fuzz): the trace reader, the policy loader, the
# socket request parser and the event decoder, built with clang from the
# library's own sources. `make fuzz` runs each FUZZ_SECS from its seed corpus
# (tests/fuzz/corpus/TARGET) after replaying its regression inputs
# (tests/fuzz/regress/TARGET); `make check` runs them for FUZZ_CHECK_SECS.
FUZZ_CC ?= clang
FUZZ_SECS ?= 60
FUZZ_CHECK_SECS ?= 20
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE \
	-Iinclude -Isrc/lib -I$(O) -DPRIVMEM_VERSION='"$(VERSION)"'
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(addprefix $(O)/fuzz/,$(FUZZ_TARGETS))
FUZZ_LIB_OBJS := $(call objs,$(O)/fuzz,$(LIB_SRCS))

$(O)/fuzz/%.o: src/%.c $(HDRS) $(SKELS) | $(O)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
$(O)/fuzz/libprivmem.a: $(FUZZ_LIB_OBJS)
	rm -f $@
	ar rcs $@ $^
$(O)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(O)/fuzz/libprivmem.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ -o $@ $(LDLIBS_LIB) $(LDLIBS_Z)

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)
fuzz: fuzz-build
	@FUZZ_SECS=$(FUZZ_SECS) ./tests/fuzz/run.sh $(FUZZ_TARGETS)
# the check's stage is `make fuzz` for FUZZ_CHECK_SECS (a FUZZ_SECS given on the command line wins)
check: export FUZZ_SECS = $(FUZZ_CHECK_SECS)
CHECK_STAGES += fuzz
