# lcvm: one non-recursive build. Objects go under build/.
#
#   make            build/lcvm, build/lcvm-agent, unit tests
#   make guest      kernel + initramfs + default image (downloads Debian packages)
#   make demo       install packages, build everything, run busybox in a VM
#   make check      unit + integration tests; prints "N passed, N failed"
#   make check SANITIZE=1   the same with ASan+UBSan (objects under build/san/)
#   make bench      benchmarks, see docs/benchmarks.md
#   make fuzz       longer libFuzzer runs (clang)
#   make install    PREFIX=/usr/local
#
# Sources are found by directory, so adding a module never means editing this file:
#   src/<module>/*.c   host code, archived into liblcvm.a (src/cli/ and src/agent/ excepted)
#   src/cli/*.c        the lcvm binary
#   src/agent/*.c      the static guest agent (with src/rpc, src/util and the generated proto)
#   tests/unit/test_*.c      one binary each, linked with liblcvm.a
#   tests/fuzz/fuzz_*.c      libFuzzer harnesses (clang only)

CC      ?= cc
PREFIX  ?= /usr/local
SANITIZE ?=
Q       := $(if $(V),,@)

ifeq ($(FUZZ),1)
# libFuzzer build of the library (clang only); harnesses link -fsanitize=fuzzer.
B       := build/fuzz
CC      := clang
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SANITIZE),1)
B       := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B       := build
SANFLAGS :=
endif

CSTD     := -std=c11 -D_GNU_SOURCE
WARN     := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-unknown-warning-option -Wno-format-truncation
CFLAGS   ?= -O2 -g
ALLCFLAGS := $(CSTD) $(WARN) $(CFLAGS) $(SANFLAGS) -Isrc -I$(B)/gen -MMD -MP
HOST_LIBS := -lprotobuf-c -ljansson -lpthread -lcurl -larchive -lcrypto
AGENT_LIBS := -l:libprotobuf-c.a -l:libjansson.a -lpthread

# --- sources -----------------------------------------------------------------
LIB_DIRS  := util vsock p9 rpc monitor image
LIB_SRC   := $(foreach d,$(LIB_DIRS),$(wildcard src/$(d)/*.c))
CLI_SRC   := $(wildcard src/cli/*.c)
AGENT_SRC := $(wildcard src/agent/*.c) $(wildcard src/rpc/*.c) $(wildcard src/util/*.c)
PROTOS    := $(wildcard proto/*.proto)
GEN_C     := $(patsubst proto/%.proto,$(B)/gen/%.pb-c.c,$(PROTOS))
GEN_H     := $(GEN_C:.c=.h) $(B)/gen/boot_cmdline.h
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
TEST_HELPER_SRC := $(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))
CONF_SRC  := $(wildcard tests/conformance/*.c)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)

LIB_OBJ   := $(patsubst %.c,$(B)/obj/%.o,$(LIB_SRC)) $(patsubst $(B)/gen/%.c,$(B)/obj/gen/%.o,$(GEN_C))
CLI_OBJ   := $(patsubst %.c,$(B)/obj/%.o,$(CLI_SRC))
AGENT_OBJ := $(patsubst %.c,$(B)/agentobj/%.o,$(AGENT_SRC)) $(patsubst $(B)/gen/%.c,$(B)/agentobj/gen/%.o,$(GEN_C))
HELPER_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(TEST_HELPER_SRC))
# Agent modules other than main.c, compiled with host flags so tests/unit/test_agent_*.c can use them.
AGENT_LIB_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(filter-out src/agent/main.c,$(wildcard src/agent/*.c)))

all: $(B)/lcvm $(B)/lcvm-agent $(AGENT_LIB_OBJ) $(UNIT_BIN) $(B)/lcvm-conformance
.SECONDARY:
.PHONY: fuzzers all guest busybox-image demo check check-unit check-integration bench fuzz install clean distclean

# --- generated protocol code -------------------------------------------------
$(B)/gen/%.pb-c.c $(B)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(B)/gen
	$(Q)protoc-c --proto_path=proto --c_out=$(B)/gen $<

# The guest kernel's tuned command line: one file, read by the monitor (as a
# generated header) and by the scripts that boot the same kernel by hand.
$(B)/gen/boot_cmdline.h: guest/boot-cmdline
	@mkdir -p $(B)/gen
	$(Q)printf '#define LCVM_BOOT_CMDLINE "%s"\n' "$$(tr -d '\n"\\' <$<)" >$@

# --- host objects ------------------------------------------------------------
$(B)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALLCFLAGS) -c $< -o $@

$(B)/obj/gen/%.o: $(B)/gen/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CSTD) $(CFLAGS) $(SANFLAGS) -I$(B)/gen -c $< -o $@

$(B)/liblcvm.a: $(LIB_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/lcvm: $(CLI_OBJ) $(B)/liblcvm.a
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $(CLI_OBJ) $(B)/liblcvm.a $(HOST_LIBS)

# --- guest agent: static, never sanitized (it is PID 1 in the guest) ----------
AGENT_CFLAGS := $(CSTD) $(WARN) -Os -g -Isrc -I$(B)/gen -MMD -MP -DLCVM_AGENT
$(B)/agentobj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(AGENT_CFLAGS) -c $< -o $@

$(B)/agentobj/gen/%.o: $(B)/gen/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CSTD) -Os -I$(B)/gen -c $< -o $@

$(B)/lcvm-agent: $(AGENT_OBJ)
	$(Q)$(CC) -static -o $@ $(AGENT_OBJ) $(AGENT_LIBS)

# --- conformance program (runs on a bind mount in the guest and on the host) ---
$(B)/lcvm-conformance: $(CONF_SRC)
	@mkdir -p $(dir $@)
	$(Q)if [ -n "$(CONF_SRC)" ]; then $(CC) $(CSTD) $(WARN) -O2 -static -o $@ $(CONF_SRC) -lpthread; else touch $@; fi

# --- fuzz harnesses (make FUZZ=1 fuzzers) --------------------------------------
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(B)/fuzzers/%,$(FUZZ_SRC))
fuzzers: $(FUZZ_BIN)
$(B)/fuzzers/%: tests/fuzz/%.c $(B)/liblcvm.a $(AGENT_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALLCFLAGS) -fsanitize=fuzzer -Itests/unit -o $@ $< $(AGENT_LIB_OBJ) $(B)/liblcvm.a $(HOST_LIBS)

# --- unit tests --------------------------------------------------------------
$(B)/tests/test_agent_%: tests/unit/test_agent_%.c $(B)/liblcvm.a $(HELPER_OBJ) $(AGENT_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALLCFLAGS) -Itests/unit -o $@ $< $(HELPER_OBJ) $(AGENT_LIB_OBJ) $(B)/liblcvm.a $(HOST_LIBS)

$(B)/tests/%: tests/unit/%.c $(B)/liblcvm.a $(HELPER_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALLCFLAGS) -Itests/unit -o $@ $< $(HELPER_OBJ) $(B)/liblcvm.a $(HOST_LIBS)

check-unit: $(UNIT_BIN)
	$(Q)tests/run.sh unit $(UNIT_BIN)

check-integration: all guest
	$(Q)LCVM=$(B)/lcvm tests/run.sh integration $(wildcard tests/integration/test_*.sh)

# One summary line for everything: the runner appends results to a file per run.
# The unit tests run twice: as built, and under ASan+UBSan (clang), so the
# sanitizer build is held to the same tests on every run.
SAN_UNIT_BIN := $(if $(filter 1,$(SANITIZE) $(FUZZ)),,$(patsubst tests/unit/%.c,build/san/tests/%,$(UNIT_SRC)))
check: all guest busybox-image
	$(Q)$(if $(SAN_UNIT_BIN),$(MAKE) -s SANITIZE=1 CC=clang $(SAN_UNIT_BIN))
	$(Q)LCVM=$(B)/lcvm LCVM_BUILD=$(B) tests/run.sh all $(UNIT_BIN) $(SAN_UNIT_BIN) \
		$(wildcard tests/integration/test_*.sh) $(if $(FUZZ_SRC),tests/fuzz/run-bounded.sh)

# --- guest image -------------------------------------------------------------
guest: $(B)/lcvm-agent
	$(Q)guest/build.sh $(B)/lcvm-agent build/guest

# The default image `busybox` as a real OCI image in the store (no registry).
busybox-image: $(B)/lcvm guest
	$(Q)tests/images/mk-busybox-oci.sh build/guest/images/busybox build/guest/images/busybox.oci.tar >/dev/null
	$(Q)$(B)/lcvm load -q -i build/guest/images/busybox.oci.tar

demo:
	$(Q)guest/install-deps.sh
	$(Q)$(MAKE) all guest busybox-image
	$(Q)$(B)/lcvm run --rm busybox sh -c 'echo "hello from $$(uname -s) $$(uname -r) inside an lcvm VM"'

bench: all guest
	$(Q)bench/run.sh

fuzz:
	$(Q)FUZZ_SECONDS=$${FUZZ_SECONDS:-600} tests/fuzz/run-bounded.sh

install: all guest
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lcvm
	install -m 0755 $(B)/lcvm $(DESTDIR)$(PREFIX)/bin/lcvm
	cp -a build/guest/. $(DESTDIR)$(PREFIX)/lib/lcvm/

clean:
	rm -rf build/obj build/agentobj build/tests build/gen build/san build/lcvm build/lcvm-agent build/liblcvm.a

distclean:
	rm -rf build

-include $(shell find $(B) -name '*.d' 2>/dev/null)
