# Ananke build. `make` builds build/bin/ananke; `make test` runs the suite;
# `make test-san` runs it under AddressSanitizer + UndefinedBehaviorSanitizer;
# `make demo` runs the demo workload on ./ananke.img.
#
# SAN=1 builds everything with sanitizers into build-san/.

CC      ?= cc
PREFIX  ?= /usr/local
SAN     ?= 0

ifeq ($(SAN),1)
BUILD   := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1
else
BUILD   := build
SANFLAGS :=
OPT     := -O2
endif

CFLAGS  ?= $(OPT) -g
ALL_CFLAGS := $(CFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter \
           -Wstrict-prototypes -Wmissing-prototypes -pthread -MMD -MP $(SANFLAGS)
LDFLAGS += -pthread $(SANFLAGS)
LDLIBS  := -luring

CORE_SRC := $(wildcard src/util/*.c src/bdev/*.c src/fs/*.c src/fsck/*.c src/server/*.c \
                        src/supervisor/*.c src/plog/*.c src/ipc/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
# libananke: the client library (position-independent, no file system code)
CLIENT_SRC := $(wildcard src/client/*.c) src/util/crc32c.c src/ipc/optable.c
CLIENT_OBJ := $(CLIENT_SRC:%.c=$(BUILD)/pic/%.o)
TOOL_SRC := $(wildcard tools/*.c)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TESTLIB_SRC := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/obj/%.o)
# bench/*.c are programs, except bench_util.c: helpers linked into each
BENCH_UTIL_OBJ := $(BUILD)/obj/bench/bench_util.o
BENCH_SRC := $(filter-out bench/bench_util.c,$(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bin/%)

CORE_LIB := $(BUILD)/lib/libananke_core.a
CLIENT_LIB := $(BUILD)/lib/libananke.a
CLIENT_SO  := $(BUILD)/lib/libananke.so
ANANKE   := $(BUILD)/bin/ananke
DEMO_CLIENT := $(BUILD)/bin/ananke-demo-client
# the FUSE front door: a libananke client (src/fuse/)
FUSE_SRC := $(wildcard src/fuse/*.c)
FUSE_OBJ := $(FUSE_SRC:%.c=$(BUILD)/obj/%.o)
ANANKE_FUSE := $(BUILD)/bin/ananke-fuse
VERSION  := 0.1.0

.PHONY: all deps test test-san demo bench install clean
.SECONDARY:
all: $(ANANKE) $(ANANKE_FUSE) $(CLIENT_LIB) $(CLIENT_SO) $(DEMO_CLIENT) $(BENCH_BIN)

deps:
	@bash scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

$(CLIENT_LIB): $(CLIENT_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(CLIENT_SO): $(CLIENT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libananke.so.0 -o $@ $^

# Programs built like an application would be: against include/ and libananke only.
$(DEMO_CLIENT): examples/demo_client.c $(CLIENT_LIB) include/ananke.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iinclude -o $@ $< $(CLIENT_LIB) $(LDFLAGS)

$(ANANKE_FUSE): $(FUSE_OBJ) $(CLIENT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(FUSE_OBJ) $(CLIENT_LIB)

$(CORE_LIB): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# (`ananke umount` runs fusermount3 as the front door does)
FUSERMOUNT_OBJ := $(BUILD)/obj/src/fuse/fusermount.o
$(ANANKE): $(TOOL_OBJ) $(FUSERMOUNT_OBJ) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(FUSERMOUNT_OBJ) $(CORE_LIB) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TESTLIB_OBJ) $(CORE_LIB) $(CLIENT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(TESTLIB_OBJ) $(CORE_LIB) $(CLIENT_LIB) $(LDLIBS) -lcmocka

$(BUILD)/bin/%: $(BUILD)/obj/bench/%.o $(BENCH_UTIL_OBJ) $(CORE_LIB) $(CLIENT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(BENCH_UTIL_OBJ) $(CORE_LIB) $(CLIENT_LIB) $(LDLIBS)

test: deps
	@$(MAKE) --no-print-directory $(ANANKE) $(ANANKE_FUSE) $(CLIENT_LIB) $(TEST_BIN)
	@BUILD=$(BUILD) bash tests/run.sh

# Under the sanitizers the crash, SIGSTOP and injection campaigns run a
# smaller sample (their full size is in `make test`); set the variables to
# override.
test-san: deps
	@ANK_CD_SEEDS=$${ANK_CD_SEEDS:-1} ANK_CD_STOPS=$${ANK_CD_STOPS:-50} \
	 ANK_INJ_COUNT=$${ANK_INJ_COUNT:-100} $(MAKE) --no-print-directory SAN=1 test

demo: deps
	@$(MAKE) --no-print-directory $(ANANKE) $(ANANKE_FUSE) $(DEMO_CLIENT)
	@bash scripts/demo.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory $(BENCH_BIN)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(ANANKE) $(DESTDIR)$(PREFIX)/bin/ananke
	install -m 0644 include/ananke.h $(DESTDIR)$(PREFIX)/include/ananke.h
	install -m 0644 $(CLIENT_LIB) $(DESTDIR)$(PREFIX)/lib/libananke.a
	install -m 0755 $(CLIENT_SO) $(DESTDIR)$(PREFIX)/lib/libananke.so.0
	ln -sf libananke.so.0 $(DESTDIR)$(PREFIX)/lib/libananke.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' ananke.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/ananke.pc

clean:
	rm -rf build build-san

-include $(CORE_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(TESTLIB_OBJ:.o=.d) $(CLIENT_OBJ:.o=.d)
-include $(BENCH_SRC:%.c=$(BUILD)/obj/%.d) $(BENCH_UTIL_OBJ:.o=.d)
-include $(TEST_SRC:tests/%.c=$(BUILD)/obj/tests/%.d)
