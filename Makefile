# SPDX-License-Identifier: MIT
# KausalDB: one Makefile, no recursion. Objects go under build/.
#
#   make            build libkausal and the programs
#   make test       install missing packages, build, run every test
#   make check      the tests under AddressSanitizer and UndefinedBehaviorSanitizer
#   make bench      the storage, peers and query benchmarks on the real file system
#   make bench-check  the benchmarks against bench/baseline.json (tier from the environment)
#   make demo       ingest this source tree, mount the graph at ./demo-mnt, show it
#   make demo-stop  unmount it
#   make fuzz       each libFuzzer target for FUZZ_SECONDS (60)
#   make help       every target

CC       ?= cc
BUILD    ?= build
CFLAGS_WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wold-style-definition -Wpointer-arith -Wwrite-strings -Wvla -Wformat=2 \
	-Wimplicit-fallthrough -Wundef -fno-common
OPT      ?= -O2 -g
CFLAGS   := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(OPT) $(CFLAGS_WARN) -MMD -MP \
	$(EXTRA_CFLAGS)
LDFLAGS  := $(EXTRA_LDFLAGS)

# Debian packages the build and the tests need, and what `make bench` adds.
DEB_BUILD := pkg-config libxxhash-dev libcmocka-dev libfuse3-dev fuse3 libjansson-dev attr \
	libtree-sitter-dev clang libclang-rt-14-dev
DEB_BENCH := libleveldb-dev librocksdb-dev cscope

ENGINE_SRC := $(wildcard engine/*.c)
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o)
LIBKAUSAL  := $(BUILD)/libkausal.a

TEST_SUPPORT_SRC := tests/vfs_mem.c tests/vfs_fault.c tests/test_util.c
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/%.o)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_SRC  := $(filter-out tests/test_util.c,$(TEST_SRC))
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

KAUSAL_SRC := tools/kausal.c tools/cli.c tools/c_parse.c tools/names.c tools/ingest_state.c $(wildcard tools/cmd_*.c)
KAUSAL_OBJ := $(KAUSAL_SRC:%.c=$(BUILD)/%.o)

# The C grammar of tree-sitter: fetched pinned from the npm registry into build/ (once, whatever
# BUILD is), never committed; compiled as it comes (generated code: its warnings are not ours).
TS_C_DIR := build/tree-sitter-c
TS_C_OBJ := $(BUILD)/tree-sitter-c/parser.o
KAUSAL_BIN := $(BUILD)/kausal

KAUSALFS_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard fs/*.c)) $(BUILD)/tools/names.o
KAUSALFS_BIN := $(BUILD)/kausalfs
FUSE_CFLAGS   = $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS     = $(shell pkg-config --libs fuse3 2>/dev/null || echo -lfuse3)

BENCH_SRC := $(wildcard bench/*.c)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/%.o)
BENCH_BIN := $(BUILD)/kausal-bench

CMOCKA_CFLAGS = $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   = $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
JANSSON_OK    = $(shell pkg-config --exists jansson 2>/dev/null && echo 1)
LEVELDB_OK    = $(shell test -f /usr/include/leveldb/c.h && echo 1)
ROCKSDB_OK    = $(shell test -f /usr/include/rocksdb/c.h && echo 1)
BENCH_DEFS    = $(if $(JANSSON_OK),-DKDB_BENCH_JANSSON=1) $(if $(LEVELDB_OK),-DKDB_BENCH_LEVELDB=1) \
	$(if $(ROCKSDB_OK),-DKDB_BENCH_ROCKSDB=1)
BENCH_LIBS    = $(if $(JANSSON_OK),-ljansson) $(if $(LEVELDB_OK),-lleveldb) \
	$(if $(ROCKSDB_OK),-lrocksdb)

.SECONDARY:

.PHONY: FORCE all deps deps-bench fuzz fuzz-run test check asan ubsan tsan valgrind bench bench-check demo demo-stop man-lint format \
	format-check tidy install clean help

all: $(LIBKAUSAL) $(KAUSAL_BIN) $(KAUSALFS_BIN) $(BENCH_BIN)

help:
	@sed -n 's/^#   //p' Makefile
	@echo "  asan ubsan tsan valgrind   one sanitizer or valgrind over the tests"
	@echo "  man-lint format format-check tidy install clean"

# Installs the Debian packages that are missing (as root, or through sudo).
deps:
	@./scripts/install-deps.sh $(DEB_BUILD)

deps-bench:
	@./scripts/install-deps.sh $(DEB_BUILD) $(DEB_BENCH)

# libFuzzer targets (clang), one per decoder of bytes from disk or from a user:
# `make fuzz` runs each for FUZZ_SECONDS, its corpus growing in build/fuzz/corpus;
# `make test` runs each for FUZZ_TEST_SECONDS, so that a decoder that regresses fails it.
FUZZ_SRC     := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN     := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 10
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Iengine -Iengine/include -Itests -Itools

$(BUILD)/fuzz/fuzz_c_parse: fuzz/fuzz_c_parse.c tools/c_parse.c $(TS_C_OBJ)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang $(FUZZ_CFLAGS) -I$(TS_C_DIR)/src $^ -o $@ -ltree-sitter

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_util.h $(ENGINE_SRC) tests/vfs_mem.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@ -lpthread

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-run

fuzz-run:
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@for bin in $(FUZZ_BIN); do \
		name=$$(basename $$bin); corpus=$(BUILD)/fuzz/corpus/$$name; mkdir -p $$corpus; \
		log=$(BUILD)/fuzz/$$name.log; \
		if $$bin -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ \
			$$corpus fuzz/seeds/$${name#fuzz_} >$$log 2>&1; then \
			echo "fuzz: $$name: $$(sed -n 's/^stat::number_of_executed_units: *//p' $$log) runs in $(FUZZ_SECONDS) s, no finding"; \
		else \
			grep -E 'ERROR|SUMMARY|artifact' $$log; echo "fuzz: $$name: a finding (see $$log)"; exit 1; \
		fi; \
	done

# V=1 shows the full commands.
Q = $(if $(V),,@)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) -Iengine -Iengine/include -c $< -o $@

$(BUILD)/fs/%.o: fs/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) $(FUSE_CFLAGS) -Iengine/include -Itools -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) $(CMOCKA_CFLAGS) -Iengine -Iengine/include -Itests -c $< -o $@

# Rebuild the benchmark when an optional library (jansson, the peers) appears or goes.
$(BUILD)/bench/libs.stamp: FORCE
	@mkdir -p $(@D)
	@echo "$(BENCH_DEFS)" | cmp -s - $@ || echo "$(BENCH_DEFS)" > $@

$(BUILD)/bench/%.o: bench/%.c $(BUILD)/bench/libs.stamp
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) $(BENCH_DEFS) $(FUSE_CFLAGS) -Iengine -Iengine/include -c $< -o $@

$(LIBKAUSAL): $(ENGINE_OBJ)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)ar rcs $@ $^

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TEST_SUPPORT_OBJ) $(LIBKAUSAL)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(CMOCKA_LIBS)

$(KAUSALFS_BIN): $(KAUSALFS_OBJ) $(LIBKAUSAL)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(FUSE_LIBS) -lpthread

$(TS_C_DIR)/src/parser.c:
	@./scripts/fetch-tree-sitter-c.sh $(TS_C_DIR)

$(TS_C_OBJ): $(TS_C_DIR)/src/parser.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) -std=c11 $(OPT) -w $(EXTRA_CFLAGS) -I$(TS_C_DIR)/src -c $< -o $@

# kausal runs as a process a command, and the dynamic loader's work (mapping and relocating
# libc and jansson) was a fifth of a `kausal callers`: it is linked statically, except under
# the sanitizers, which need the shared C library.
KAUSAL_STATIC ?= $(if $(findstring -fsanitize,$(OPT) $(EXTRA_LDFLAGS)),,-static)

$(KAUSAL_BIN): $(KAUSAL_OBJ) $(TS_C_OBJ) $(LIBKAUSAL)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(KAUSAL_STATIC) -o $@ $^ $(LDFLAGS) -l:libtree-sitter.a -ljansson \
		-lpthread

$(BENCH_BIN): $(BENCH_OBJ) $(LIBKAUSAL)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $(filter-out %.stamp,$^) $(LDFLAGS) $(BENCH_LIBS) $(FUSE_LIBS) -lm -lpthread

# Each suite runs alone; tests/run-tests.sh sums their counts into one closing line.
# After the suites, the benchmark gate at the CI tier on small sizes, then each fuzz target
# for FUZZ_TEST_SECONDS (TEST_BENCH=0 skips both; the sanitizer builds do): a gross slowdown
# fails, noise does not; a decoder that crashes fails.
TEST_BENCH ?= 1
test: deps
	@$(MAKE) --no-print-directory $(TEST_BIN) $(KAUSAL_BIN) $(KAUSALFS_BIN) \
		$(if $(filter 1,$(TEST_BENCH)),$(BENCH_BIN))
	@KAUSAL_BIN=$(KAUSAL_BIN) KAUSALFS_BIN=$(KAUSALFS_BIN) ./tests/run-tests.sh $(TEST_BIN)
	$(if $(filter 1,$(TEST_BENCH)),@BUILD=$(BUILD) ./scripts/bench-check.sh $(BENCH_BIN) small ci)
	$(if $(filter 1,$(TEST_BENCH)),@$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(FUZZ_TEST_SECONDS))

SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all
check: deps
	@$(MAKE) --no-print-directory BUILD=build/san \
		OPT="$(SAN_FLAGS) -fsanitize=address,undefined" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" TEST_BENCH=0 test

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="$(SAN_FLAGS) -fsanitize=address" \
		EXTRA_LDFLAGS="-fsanitize=address" TEST_BENCH=0 test

ubsan: deps
	@$(MAKE) --no-print-directory BUILD=build/ubsan OPT="$(SAN_FLAGS) -fsanitize=undefined" \
		EXTRA_LDFLAGS="-fsanitize=undefined" TEST_BENCH=0 test

# The helper threads under ThreadSanitizer; sweeps take fewer steps, as under valgrind.
tsan: deps
	@KDB_TEST_QUICK=1 $(MAKE) --no-print-directory BUILD=build/tsan \
		OPT="$(SAN_FLAGS) -fsanitize=thread" EXTRA_LDFLAGS="-fsanitize=thread" TEST_BENCH=0 test

valgrind: deps
	@$(MAKE) --no-print-directory $(TEST_BIN) $(KAUSAL_BIN) $(KAUSALFS_BIN)
	@KDB_TEST_QUICK=1 KAUSAL_BIN=$(KAUSAL_BIN) KAUSALFS_BIN=$(KAUSALFS_BIN) VALGRIND="valgrind -q --error-exitcode=99 --leak-check=full" \
		./tests/run-tests.sh $(TEST_BIN)

BENCH_ARGS ?=
PEERS_ARGS ?=
QUERY_ARGS ?=
bench: deps-bench
	@$(MAKE) --no-print-directory $(BENCH_BIN)
	$(BENCH_BIN) storage $(BENCH_ARGS)
	$(BENCH_BIN) peers $(PEERS_ARGS)
	$(BENCH_BIN) query $(QUERY_ARGS)

bench-check: deps
	@$(MAKE) --no-print-directory $(BENCH_BIN)
	@BUILD=$(BUILD) ./scripts/bench-check.sh $(BENCH_BIN) full

demo: deps
	@$(MAKE) --no-print-directory all
	@./scripts/demo.sh

demo-stop:
	@./scripts/demo-stop.sh

man-lint:
	@for page in man/*.[1-8]; do \
		echo "man-lint $$page"; \
		out=$$(LC_ALL=C.UTF-8 MANROFFSEQ='' groff -man -ww -z $$page 2>&1); \
		if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; \
	done

CODE := $(wildcard engine/*.[ch] engine/include/*.h tests/*.[ch] bench/*.[ch] fs/*.[ch] tools/*.[ch] \
	fuzz/*.[ch])
format:
	clang-format -i $(CODE)

format-check:
	clang-format --dry-run --Werror $(CODE)

tidy:
	@! grep -nE '\b(strcpy|sprintf|strtok|gets)\s*\(' $(CODE) || { echo "tidy: banned function"; exit 1; }
	@! grep -n 'FIXME' $(CODE) || { echo "tidy: FIXME"; exit 1; }
	@# File I/O goes through the VFS; the default allocator's anonymous mappings are not I/O,
	@# nor is the socket of remote.c (its directory handle and its name).
	@! grep -nE '(^|[^>._a-z])(open|pread|pwrite|fsync|fdatasync|ftruncate|rename|unlink|mkdir|opendir|mmap|sync_file_range|getrandom)\s*\(' \
		$(filter-out engine/vfs_posix.c engine/remote.c,$(wildcard engine/*.c)) | grep -v 'MAP_ANONYMOUS' \
		|| { echo "tidy: system call outside engine/vfs_posix.c"; exit 1; }
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability --inline-suppr \
		--suppress=missingIncludeSystem -Iengine -Iengine/include engine
	clang-tidy --quiet $(ENGINE_SRC) -- -std=c11 -D_GNU_SOURCE -Iengine -Iengine/include

PREFIX ?= /usr/local
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 0755 $(KAUSAL_BIN) $(KAUSALFS_BIN) $(BENCH_BIN) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(LIBKAUSAL) $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 engine/include/kdb.h $(DESTDIR)$(PREFIX)/include/
	install -m 0644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
