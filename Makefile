# nvc -- top-level Makefile (the only build system).
#
# Conventions (add files, not rules):
#   codec/*.c entropy/*.c network/*.c      -> libnvc (C11, portable)
#   */x86/*.c                               -> libnvc, compiled with AVX2/FMA/BMI2 (chosen at run time)
#   tests/test_*.c                          -> build/tests/test_*   (run by `make check`)
#   tests/*.sh                              -> run by `make check` after the binaries
#   tools/*.c                               -> build/<name>          (bench_*.c are run by `make bench`)
#   player/*.c                              -> build/nvplay
#   tests/fuzz/fuzz_*.c                     -> build/fuzz/fuzz_*     (`make fuzz`, clang libFuzzer)
#   models/default.nvm                      -> embedded in libnvc when present
#
# `make SAN=1 BUILD=build-san check` builds and tests everything under ASan+UBSan.

CC      ?= gcc
BUILD   ?= build
PREFIX  ?= /usr/local
SAN     ?= 0
O       ?= -O2

VERSION := $(shell sed -n 's/^\#define NVC_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' include/nvc/nvc.h | paste -sd.)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS += -Iinclude -I. -D_GNU_SOURCE
CFLAGS   += -std=c11 $(O) -g $(WARN) -fPIC -pthread -fvisibility=hidden
SIMDFLAGS := -mavx2 -mfma -mbmi2
LDLIBS_CORE := -lzstd -lm -pthread

ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

AV_LIBS  := $(shell pkg-config --libs libavformat libavcodec libswscale libavutil 2>/dev/null)
AV_CFLAGS:= $(shell pkg-config --cflags libavformat libavcodec libswscale libavutil 2>/dev/null)
SDL_LIBS := $(shell pkg-config --libs sdl2 2>/dev/null)
SDL_CFLAGS:= $(shell pkg-config --cflags sdl2 2>/dev/null)

LIB_SRCS  := $(sort $(wildcard codec/*.c entropy/*.c network/*.c))
SIMD_SRCS := $(sort $(wildcard codec/x86/*.c entropy/x86/*.c network/x86/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(SIMD_SRCS:%.c=$(BUILD)/obj/%.o)
# The embedded model object always exists (empty when there is no models/default.nvm), so network/model.c
# refers to it strongly and static links of libnvc.a pull it in by themselves.
DEFAULT_MODEL := $(wildcard models/default.nvm)
LIB_OBJS  += $(BUILD)/obj/models/default_nvm.o

TEST_SRCS  := $(sort $(wildcard tests/test_*.c))
TEST_BINS  := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TOOL_SRCS  := $(sort $(wildcard tools/*.c))
TOOL_BINS  := $(TOOL_SRCS:tools/%.c=$(BUILD)/%)
BENCH_BINS := $(filter $(BUILD)/bench_%,$(TOOL_BINS))
PLAYER_SRCS:= $(sort $(wildcard player/*.c))
PLAYER_BIN := $(if $(PLAYER_SRCS),$(BUILD)/nvplay)
FUZZ_SRCS  := $(sort $(wildcard tests/fuzz/fuzz_*.c))

STATIC_LIB := $(BUILD)/libnvc.a
SHARED_LIB := $(BUILD)/libnvc.so.$(VERSION)

.SECONDARY:
.PHONY: all lib tools check test bench rd fuzz fuzz-run install clean
all: lib tools $(TEST_BINS) $(PLAYER_BIN)
lib: $(STATIC_LIB) $(SHARED_LIB)
tools: $(TOOL_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(SIMD_SRCS:%.c=$(BUILD)/obj/%.o): $(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SIMDFLAGS) -MMD -MP -c $< -o $@

# The default model is linked into the library as a byte array (symbols nvc_default_model_{start,end}).
$(BUILD)/obj/models/default_nvm.o: $(DEFAULT_MODEL) Makefile
	@mkdir -p $(dir $@)
	printf '.section .rodata\n.balign 64\n.globl nvc_default_model_start\n.globl nvc_default_model_end\n.hidden nvc_default_model_start\n.hidden nvc_default_model_end\nnvc_default_model_start:\n%s\nnvc_default_model_end:\n.section .note.GNU-stack,"",@progbits\n' '$(if $(DEFAULT_MODEL),.incbin "$(DEFAULT_MODEL)")' | $(CC) -c -x assembler - -o $@

$(STATIC_LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SHARED_LIB): $(LIB_OBJS)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libnvc.so.$(SOMAJOR) -o $@ $^ $(LDLIBS_CORE)
	ln -sf libnvc.so.$(VERSION) $(BUILD)/libnvc.so.$(SOMAJOR)
	ln -sf libnvc.so.$(VERSION) $(BUILD)/libnvc.so

# Tests and tools link the static library, so internal (hidden) symbols are reachable for unit tests.
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(STATIC_LIB) $(AV_LIBS) $(LDLIBS_CORE)

$(BUILD)/obj/tools/%.o: CFLAGS += $(AV_CFLAGS)
$(BUILD)/%: $(BUILD)/obj/tools/%.o $(STATIC_LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(STATIC_LIB) $(AV_LIBS) $(LDLIBS_CORE)

$(BUILD)/obj/player/%.o: CFLAGS += $(SDL_CFLAGS) $(AV_CFLAGS)
$(BUILD)/nvplay: $(PLAYER_SRCS:%.c=$(BUILD)/obj/%.o) $(STATIC_LIB)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(STATIC_LIB) $(SDL_LIBS) $(AV_LIBS) $(LDLIBS_CORE)

check test: all
	@BUILD=$(BUILD) sh tests/run_tests.sh

bench: all
	@for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done

rd: all
	/usr/bin/python3 tools/rd.py

# libFuzzer targets: clang only, built against the library sources directly with sanitizers.
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -I. -D_GNU_SOURCE -pthread
fuzz: $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
# (the fuzz build assumes an AVX2 machine: the x86 files need their flags and clang takes one set per command)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(SIMD_SRCS) $(BUILD)/obj/models/default_nvm.o
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(SIMDFLAGS) -o $@ $< $(LIB_SRCS) $(SIMD_SRCS) $(BUILD)/obj/models/default_nvm.o $(LDLIBS_CORE)
# New inputs go to $(BUILD)/fuzz/corpus/NAME (the checked-in seeds in tests/fuzz/corpus/NAME are only read),
# findings to $(BUILD)/fuzz/artifacts/; an input running over 10 s counts as a hang.
fuzz-run: fuzz
	@for f in $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%); do n=$$(basename $$f); echo "== $$f"; \
	  mkdir -p $(BUILD)/fuzz/corpus/$$n $(BUILD)/fuzz/artifacts; \
	  $$f -max_total_time=$${FUZZ_SECONDS:-20} -rss_limit_mb=1024 -timeout=10 \
	    -artifact_prefix=$(BUILD)/fuzz/artifacts/$$n- $(BUILD)/fuzz/corpus/$$n \
	    $$(test -d tests/fuzz/corpus/$$n && echo tests/fuzz/corpus/$$n) || exit 1; done

install: lib
	install -d $(DESTDIR)$(PREFIX)/include/nvc $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/nvc/*.h $(DESTDIR)$(PREFIX)/include/nvc/
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libnvc.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libnvc.so.$(SOMAJOR)
	ln -sf libnvc.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libnvc.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' nvc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nvc.pc
	@if [ -n "$(PLAYER_BIN)" ] && [ -x "$(PLAYER_BIN)" ]; then install -d $(DESTDIR)$(PREFIX)/bin; install -m 755 $(PLAYER_BIN) $(DESTDIR)$(PREFIX)/bin/; fi

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
