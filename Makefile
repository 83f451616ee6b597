# spawnd — plain Makefile. `make` builds ./spawnd; `make test` runs every test;
# `make SANITIZE=address,undefined test` runs them under ASan+UBSan (separate build dir).
CC       ?= cc
SANITIZE ?=
BUILD    := build$(if $(SANITIZE),-san)
CFLAGS_WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
               -Wwrite-strings -Wcast-qual -Wpointer-arith -Wformat=2 -Wno-unused-parameter \
               -Wno-format-nonliteral
ifdef CI
CFLAGS_WARN += -Werror
endif
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(CFLAGS_WARN) -fstack-protector-strong -fPIE -I. \
            $(shell pkg-config --cflags libmicrohttpd libcjson sqlite3 nettle gnutls 2>/dev/null)
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
else
CFLAGS   += -D_FORTIFY_SOURCE=2
endif
LDFLAGS  += -pie -Wl,-z,relro,-z,now
LIBS     := $(shell pkg-config --libs libmicrohttpd libcjson sqlite3 nettle gnutls 2>/dev/null || echo -lmicrohttpd -lcjson -lsqlite3 -lnettle -lgnutls) -lpthread -ldl
TEST_LIBS := $(LIBS) -lcurl

# What is built from what:
#   spawnd             server/ handlers/ engine/ targets/ + lib/   (server/main.c is its main)
#   spawnd-forkserver  forkserver/ part of targets/ + lib/         (workers are forked from it, so
#                      it stays small: no HTTP, no threads; lib/ is an archive, so it takes only
#                      the utilities it calls)
#   tests/unit_X       tests/unit_X.c + spawnd's objects without main + lib/
#   tests/api_X        tests/api_X.c + tests/harness.c             (they drive the real binaries over HTTP)
#   spawnctl           cli/ + lib/, libcurl and cJSON              (the command-line client)
DAEMON_DIRS := server handlers engine targets objects
SRCS     := $(foreach d,$(DAEMON_DIRS),$(wildcard $(d)/*.c))
OBJS     := $(SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/dash_assets.o
LIB_OBJS := $(filter-out $(BUILD)/server/main.o,$(OBJS))
UTIL_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard lib/*.c))
UTIL_A   := $(BUILD)/lib/libspawnd.a
# The fork server links only what a worker runs or what finds it (not the targets
# file loader, argument validation, argv/env building or the JSON descriptions,
# which spawnd does before it asks for a fork):
#   target       target_arg_*, the readers builtin functions call
#   builtin      the builtin table and functions
#   plugin       --plugins loading (the fork server loads the same plugins) and trampolines
#   plugin_args  spawnd_args for plugin run functions, spawnd_arg_* (exported to plugins)
#   registry     target_find() of a request's target; the plugin loader registers there
#   pattern      the plugin loader checks enum values against their pattern
#   exec_file    the registry's exec set lookup (always empty in the fork server)
#   returns      spawnd_return_json (exported to plugins), kept by a pool worker
#   worker_api   the shared-object functions C targets call (spawnd_queue_put(), ...)
#   worker_http  their transport to the server (SPAWND_SOCKET or SPAWND_URL)
FS_TARGETS := target builtin wordcount plugin plugin_args registry pattern exec_file returns worker_api worker_http
FS_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard forkserver/*.c) $(FS_TARGETS:%=targets/%.c))
FS_LIBS  := $(shell pkg-config --libs libcjson 2>/dev/null || echo -lcjson) -ldl
CLI_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard cli/*.c))
CLI_LIBS := $(shell pkg-config --libs libcurl libcjson 2>/dev/null || echo -lcurl -lcjson) -lpthread -lm

UNIT_SRCS := $(wildcard tests/unit_*.c)
# Tests in a real browser (headless Debian Chromium driven by playwright-core).
BROWSER_TESTS := $(wildcard tests/browser_*.mjs)
# Checks of the tree itself: every npm dependency accepts Debian 12's own nodejs (18),
# not only the node at hand; includes follow the folders' layering, with no cycle.
NODE_CHECKS   := tests/check_node_engines.mjs tests/check_layers.mjs
API_SRCS  := $(wildcard tests/api_*.c)
# The Python client's tests (clients/python against the real server); they print PASS/FAIL lines too.
PY_TESTS  := $(wildcard tests/test_*.py)
UNIT_BINS := $(UNIT_SRCS:tests/%.c=$(BUILD)/tests/%)
API_BINS  := $(API_SRCS:tests/%.c=$(BUILD)/tests/%)
FIXTURES  := $(patsubst tests/fixtures/%.c,$(BUILD)/tests/fixtures/%,\
               $(filter-out tests/fixtures/plugin_%.c,$(wildcard tests/fixtures/*.c)))

# Plugins (include/spawnd_target.h): shared libraries spawnd dlopen()s from --plugins DIR.
# They link against nothing; spawnd exports the spawnd_arg_* functions they call.
PLUGIN_LDFLAGS  := -shared -Wl,-z,relro,-z,now
EXPORTS         := targets/plugin.dynlist
EXAMPLE_PLUGINS := $(patsubst examples/%.c,$(BUILD)/examples/%.so,$(wildcard examples/plugin_*.c))
FIXTURE_PLUGINS := $(patsubst tests/fixtures/%.c,$(BUILD)/tests/fixtures/%.so,$(wildcard tests/fixtures/plugin_*.c))

.PHONY: all deps run screenshots test valgrind-test unit api lint bench clean fuzz fuzz-build install docker-test
all: spawnd spawnctl $(EXAMPLE_PLUGINS)

# Missing libraries are installed by the project's own script.
deps:
	@pkg-config --exists libmicrohttpd libcjson sqlite3 libcurl nettle gnutls 2>/dev/null \
		|| scripts/install-deps.sh build

# ./spawnd and ./spawnd-forkserver: spawnd finds its fork server beside itself.
ifeq ($(SANITIZE),)
spawnd: $(BUILD)/spawnd $(BUILD)/spawnd-forkserver
	cp --remove-destination $(BUILD)/spawnd-forkserver spawnd-forkserver
	cp --remove-destination $(BUILD)/spawnd $@
else
spawnd: $(BUILD)/spawnd $(BUILD)/spawnd-forkserver
endif

# ./spawnctl, the client, beside ./spawnd (build-san/spawnctl only, with SANITIZE).
ifeq ($(SANITIZE),)
spawnctl: $(BUILD)/spawnctl
	cp --remove-destination $(BUILD)/spawnctl $@
else
spawnctl: $(BUILD)/spawnctl
endif

$(BUILD)/spawnctl: $(CLI_OBJS) $(UTIL_A)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(UTIL_A) $(CLI_LIBS)

$(BUILD)/spawnd: $(OBJS) $(UTIL_A) $(EXPORTS)
	$(CC) $(LDFLAGS) -Wl,--dynamic-list=$(EXPORTS) -o $@ $(OBJS) $(UTIL_A) $(LIBS)

# Small on purpose: workers are forked from it (libc, cJSON, targets, plugins).
$(BUILD)/spawnd-forkserver: $(FS_OBJS) $(UTIL_A) $(EXPORTS)
	$(CC) $(LDFLAGS) -Wl,--dynamic-list=$(EXPORTS) -o $@ $(FS_OBJS) $(UTIL_A) $(FS_LIBS)

$(UTIL_A): $(UTIL_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# The OpenAPI document is compiled into the binary by handlers/health.c (.incbin, served at
# /openapi.yaml): editing it must rebuild that object.
$(BUILD)/handlers/health.o: openapi/openapi.yaml

# The dashboard (dashboard/: HTML, CSS, plain JavaScript) is built into the binary:
# scripts/embed_assets.c turns the files into a table of byte arrays (handlers/dash_assets.h).
DASH_FILES := $(sort $(wildcard dashboard/*.html dashboard/*.css dashboard/*.js dashboard/*.svg))
$(BUILD)/scripts/embed_assets: scripts/embed_assets.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -o $@ $<
$(BUILD)/gen/dash_assets.c: $(BUILD)/scripts/embed_assets $(DASH_FILES)
	@mkdir -p $(dir $@)
	$(BUILD)/scripts/embed_assets $(DASH_FILES) >$@.tmp && mv $@.tmp $@
$(BUILD)/gen/dash_assets.o: $(BUILD)/gen/dash_assets.c handlers/dash_assets.h
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/harness.o: tests/harness.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/unit_%: tests/unit_%.c $(LIB_OBJS) $(UTIL_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(TEST_LIBS)

# unit_nomem makes chosen allocations fail: malloc, calloc and strdup of spawnd's
# objects go through its counting wrappers (only in this test binary).
$(BUILD)/tests/unit_nomem: LDFLAGS += -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=strdup

$(BUILD)/tests/api_%: tests/api_%.c $(BUILD)/tests/harness.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/tests/fixtures/%: tests/fixtures/%.c tests/fixtures/proc_status.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -o $@ $<

$(BUILD)/tests/fixtures/%.so: tests/fixtures/%.c tests/fixtures/proc_status.h include/spawnd_target.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -fPIC -I include $(PLUGIN_LDFLAGS) -o $@ $<

$(BUILD)/examples/%.so: examples/%.c include/spawnd_target.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -I include $(PLUGIN_LDFLAGS) -o $@ $<

# `make run PORT=9090` listens elsewhere; a port already taken stops spawnd with
# "spawnd: --listen 127.0.0.1:8080: Address already in use" (exit 2).
PORT ?= 8080
run: spawnd $(EXAMPLE_PLUGINS)
	./spawnd --listen 127.0.0.1:$(PORT) --state-dir ./var $(if $(wildcard examples/targets.json),--targets examples/targets.json) \
		--plugins $(BUILD)/examples

# Tests: unit tests, then API tests against the real binary, then OpenAPI lint and
# schema validation of every response the API tests recorded.
test: $(BUILD)/spawnd $(BUILD)/spawnd-forkserver $(BUILD)/spawnctl $(UNIT_BINS) $(API_BINS) $(FIXTURES) $(EXAMPLE_PLUGINS) $(FIXTURE_PLUGINS)
	@scripts/install-deps.sh test
	@SPAWND_BIN=$(BUILD)/spawnd SPAWND_CTL=$(BUILD)/spawnctl SPAWND_FIXTURES=$(BUILD)/tests/fixtures SPAWND_EXAMPLE_PLUGINS=$(BUILD)/examples \
		SPAWND_RECORD=$(BUILD)/responses.ndjson tests/run.sh $(NODE_CHECKS) $(UNIT_BINS) $(API_BINS) $(PY_TESTS) $(BROWSER_TESTS)

# The dashboard's screenshots the README shows (docs/*.png): the browser suite run once with
# its screenshots written there. make test writes them to build/screenshots, leaving the tree clean.
screenshots: $(BUILD)/spawnd $(BUILD)/spawnd-forkserver $(EXAMPLE_PLUGINS)
	@scripts/install-deps.sh test
	SPAWND_BIN=$(BUILD)/spawnd SPAWND_SCREENSHOTS_DIR=docs SPAWND_EXAMPLE_PLUGINS=$(BUILD)/examples \
		SPAWND_FIXTURES=$(BUILD)/tests/fixtures node tests/browser_dashboard.mjs
	SPAWND_BIN=$(BUILD)/spawnd SPAWND_SCREENSHOTS_DIR=docs SPAWND_FIXTURES=$(BUILD)/tests/fixtures node tests/browser_objects.mjs

# The API tests again, with spawnd under valgrind (memory errors in any library,
# definite leaks: exit 99). Left out: api_follow (asserts CPU share and timing)
# and api_groups (valgrind 3.19 lacks pidfd_send_signal; spawnd's fallback only
# signals a group while its leader is unreaped, so survivors are out of reach),
# and api_bounded (measures RSS under loads of thousands of processes).
VALGRIND_API := $(filter-out $(BUILD)/tests/api_follow $(BUILD)/tests/api_groups $(BUILD)/tests/api_bounded,$(API_BINS))
valgrind-test: $(BUILD)/spawnd $(BUILD)/spawnd-forkserver $(BUILD)/spawnctl $(VALGRIND_API) $(FIXTURES) $(EXAMPLE_PLUGINS) $(FIXTURE_PLUGINS)
	@command -v valgrind >/dev/null || scripts/install-deps.sh test
	@SPAWND_BIN=tests/valgrind-spawnd.sh SPAWND_VALGRIND_BIN=$(BUILD)/spawnd \
		SPAWND_FORKSERVER=$(CURDIR)/$(BUILD)/spawnd-forkserver SPAWND_CTL=$(BUILD)/spawnctl SPAWND_FIXTURES=$(BUILD)/tests/fixtures \
		SPAWND_EXAMPLE_PLUGINS=$(BUILD)/examples tests/run.sh $(VALGRIND_API)

lint:
	@scripts/install-deps.sh test
	npx --no-install redocly lint openapi/openapi.yaml

# Fuzzing (libFuzzer with ASan+UBSan, clang): each tests/fuzz/fuzz_X.c runs for
# FUZZ_SECONDS over a copy of its seed corpus tests/fuzz/X/ with tests/fuzz/X.dict;
# a crash, leak or sanitizer report fails the target (the input is kept in
# build-fuzz/, named in libFuzzer's output). The objects are built by clang in
# build-fuzz/ (a sub-make with SANITIZE set, so nothing else is touched).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz:
	@scripts/install-deps.sh fuzz
	$(MAKE) CC=clang SANITIZE=fuzzer-no-link,address,undefined BUILD=build-fuzz fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
		rm -rf build-fuzz/corpus/$$t; mkdir -p build-fuzz/corpus/$$t build-fuzz/crashes/$$t; \
		cp tests/fuzz/$$t/* build-fuzz/corpus/$$t/; \
		echo "== fuzz $$t: $(FUZZ_SECONDS) s"; \
		build-fuzz/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 -dict=tests/fuzz/$$t.dict \
			-artifact_prefix=build-fuzz/crashes/$$t/ build-fuzz/corpus/$$t \
			2>build-fuzz/fuzz_$$t.log || { tail -n 60 build-fuzz/fuzz_$$t.log; echo "FAIL fuzz_$$t"; exit 1; }; \
		grep -E '^Done [0-9]+ runs' build-fuzz/fuzz_$$t.log || true; echo "PASS fuzz_$$t"; \
	done

fuzz-build: $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz/fuzz_%)

$(BUILD)/tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_OBJS) $(UTIL_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(TEST_LIBS)

bench: spawnd
	@scripts/install-deps.sh bench
	$(MAKE) -C bench

# `make install [DESTDIR=...] [PREFIX=/usr/local]`: the server with its fork server beside it
# (where spawnd looks for it), the example plugins, the example targets file and its Python
# module (docker/Dockerfile installs these into the image).
PREFIX ?= /usr/local
install: $(BUILD)/spawnd $(BUILD)/spawnd-forkserver $(EXAMPLE_PLUGINS)
	install -D -m 755 $(BUILD)/spawnd $(DESTDIR)$(PREFIX)/bin/spawnd
	install -D -m 755 $(BUILD)/spawnd-forkserver $(DESTDIR)$(PREFIX)/bin/spawnd-forkserver
	install -D -m 644 -t $(DESTDIR)$(PREFIX)/lib/spawnd/plugins $(EXAMPLE_PLUGINS)
	install -D -m 644 -t $(DESTDIR)$(PREFIX)/share/spawnd/examples examples/targets.json
	install -D -m 644 -t $(DESTDIR)$(PREFIX)/share/spawnd/examples/python examples/python/*.py

# Builds the container image (docker/Dockerfile) with podman and runs it (docker/test.sh says
# what it does at each step; it installs podman and makes the base image when they are missing).
docker-test:
	@docker/test.sh

clean:
	rm -rf build build-san build-fuzz spawnd spawnd-forkserver spawnctl var

-include $(OBJS:.o=.d) $(UTIL_OBJS:.o=.d) $(patsubst %.c,$(BUILD)/%.d,$(wildcard forkserver/*.c)) $(BUILD)/tests/harness.d \
	$(CLI_OBJS:.o=.d)
