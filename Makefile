# hpsearch build. `make` builds build/hpsearch; `make test` runs every cmocka
# suite twice: a normal build and an AddressSanitizer+UBSan build.
#
# Modules are static libraries so a test links only what it exercises and a
# half-finished file in one module does not stop another module's tests:
#   common/ -> libcommon.a   (errors, JSON helpers, RNG)
#   engine/ -> libengine.a   (training engine)           needs common
#   search/ -> libsearch.a   (spaces, samplers, pruners) needs common
#   store/  -> libstore.a    (the study database)        needs common
#   view/   -> libview.a     (study/trial JSON shapes)   needs store, search, common
#   dash/   -> libdash.a     (dashboard requests, page)  needs view, store, search, common
#   daemon/ -> libdaemon.a   (server, scheduler, workers) needs all
#   cli/    -> build/hpsearch (main + subcommands)       needs all
# tests/<module>/test_*.c -> one cmocka binary each, linked with <module>'s
# libraries (tests/daemon links everything).

CC      ?= cc
# OpenBLAS is not linked: engine/blas.c opens it with dlopen() when a command
# first trains (the client subcommands start ~6 ms faster without it); its
# headers and library folder still come from pkg-config. libmicrohttpd
# likewise (cli/dash_mhd.c, when `hpsearch dashboard` starts): only its
# header is used at build time.
PKGS    := libuv sqlite3 libpq libcjson zlib
# pkg-config runs when a recipe first needs its answer, once, not while this
# file is read: `make demo` installs the dependencies before it builds, and
# `make clean` or `make install` of a built tree need none. A missing package
# stops the build with one message naming it and scripts/install-deps.
pkg_missing = $(strip $(foreach p,$(1),$(if $(shell pkg-config --exists $(p) 2>/dev/null && echo y),,$(p))))
pkg_query = $(if $(call pkg_missing,$(2)),$(error $(call missing_msg,$(call pkg_missing,$(2)))),$(shell pkg-config $(1) $(2)))
missing_msg = missing build dependencies: $(if $(shell command -v pkg-config),pkg-config finds no $(1),pkg-config is not installed). Run scripts/install-deps (installs every dependency from Debian packages) and make again
# $(call once,VAR,VALUE): VAR becomes VALUE the first time it is expanded.
once = $(eval $(1) := $$(2))$(value $(1))
PKG_CFLAGS = $(call once,PKG_CFLAGS,$(call pkg_query,--cflags,$(PKGS) openblas libmicrohttpd) \
              -DHP_OPENBLAS_LIBDIR='"$(shell pkg-config --variable=libdir openblas)"')
PKG_LIBS   = $(call once,PKG_LIBS,$(call pkg_query,--libs,$(PKGS)) -ldl)
CMOCKA_CFLAGS = $(call once,CMOCKA_CFLAGS,$(call pkg_query,--cflags,cmocka))
CMOCKA_LIBS   = $(call once,CMOCKA_LIBS,$(call pkg_query,--libs,cmocka))

# A flag only some compilers know is passed when $(CC) accepts it: `make
# CC=clang` builds too (clang has no -Wformat-truncation).
cc_accepts = $(shell $(CC) $(1) -Werror -x c -c /dev/null -o /dev/null 2>/dev/null && echo $(1))
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter \
           $(call cc_accepts,-Wno-format-truncation)
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -g $(WARN) -Iinclude $(PKG_CFLAGS)
# -O3 for vectorised loops; never -ffast-math (NaN/Inf must stay detectable).
OPT     := -O3
LDLIBS  = $(PKG_LIBS) -lm -lpthread

B       ?= build
# The ASan build is also the checked build: HP_CHECK_INVARIANTS makes the
# daemon verify its scheduler's lists and counters after every loop iteration
# (daemon/sched_check.c). A debug build without ASan:
#   make B=build-debug OPT='-O0 -DHP_CHECK_INVARIANTS'
SAN_FLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -DHP_CHECK_INVARIANTS

MODULES := common engine search store view dash daemon
common_DEPS := common
engine_DEPS := engine common
search_DEPS := search common
store_DEPS  := store common
view_DEPS   := view store search common
dash_DEPS   := dash view store search common
daemon_DEPS := daemon view store engine search common
cli_DEPS    := daemon dash view store engine search common

define objs_of
$(patsubst %.c,$(1)/obj/%.o,$(wildcard $(2)/*.c))
endef

.PHONY: all test test-plain test-asan test-browser clean bench-engine bench-search bench-search-mo bench-search-mo-step bench-daemon bench-importance bench-dashboard bench-sweep bench-sweep-trials bench-gp-engine demo fmt \
        install uninstall

all: $(B)/hpsearch

# ---- variant builds: $(call variant,DIR,CFLAGS) --------------------------
define variant
$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BASE_CFLAGS) $(2) -MMD -MP -c $$< -o $$@

$(foreach m,$(MODULES),
$(1)/lib$(m).a: $$(call objs_of,$(1),$(m))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
)

$(1)/hpsearch: $$(call objs_of,$(1),cli) $(foreach d,$(cli_DEPS),$(1)/lib$(d).a)
	$$(CC) $(2) -o $$@ $$(call objs_of,$(1),cli) $(foreach d,$(cli_DEPS),$(1)/lib$(d).a) $$(LDLIBS)

$(foreach m,$(MODULES),
$(1)/tests/$(m)/%: tests/$(m)/%.c $(foreach d,$($(m)_DEPS),$(1)/lib$(d).a)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BASE_CFLAGS) $(2) $$(CMOCKA_CFLAGS) -DHP_BUILD_DIR='"$(1)"' -o $$@ $$< $(foreach d,$($(m)_DEPS),$(1)/lib$(d).a) $$(CMOCKA_LIBS) $$(LDLIBS)
)
endef

# The GP's kernel loops take square roots of distances (never negative)
# and clamp hp_vexp's argument: with no errno to set and no trapping
# comparisons, GCC vectorises them (neither flag changes a result; this is
# not -ffast-math: no reassociation; kern_vec alone asks for contraction).
$(foreach v,$(B) $(B)/asan $(B)/fuzz,$(v)/obj/search/gp.o): BASE_CFLAGS += -fno-math-errno -fno-trapping-math

$(eval $(call variant,$(B),$(OPT)))
$(eval $(call variant,$(B)/asan,$(SAN_FLAGS)))

# The page's files are built into dash/assets.o (.incbin): rebuild it when they change.
DASH_WEB := $(wildcard dash/web/*)
$(B)/obj/dash/assets.o $(B)/asan/obj/dash/assets.o $(B)/fuzz/obj/dash/assets.o: $(DASH_WEB)

TEST_SRCS := $(wildcard tests/*/test_*.c)
TESTS     := $(patsubst %.c,$(B)/%,$(TEST_SRCS))
ASAN_TESTS := $(patsubst %.c,$(B)/asan/%,$(TEST_SRCS))

test: test-plain test-asan test-browser

test-plain: $(B)/hpsearch $(TESTS)
	@scripts/run-tests $(B) $(TESTS)

# The dashboard in Debian's headless Chromium (tests/browser/, node's test
# runner, playwright-core from the committed lockfile).
test-browser: $(B)/hpsearch $(B)/bench_dashboard_gen
	@scripts/test-browser $(B)

# intercept_tls_get_addr=0: GCC 12's sanitizer runtime crashes in the leak
# check at exit ("Tracer caught signal 11") when threads of a dlopen'ed
# library with TLS run (oneDNN's OpenMP pool, the engine's fp32 products on
# AVX-512 BF16 CPUs); a known runtime bug, fixed in later LLVM (D147459).
test-asan: $(B)/asan/hpsearch $(ASAN_TESTS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:intercept_tls_get_addr=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  scripts/run-tests $(B)/asan $(ASAN_TESTS)

# One module's tests only, e.g. `make tests-search` (no sanitizer run).
define module_tests
.PHONY: tests-$(1)
tests-$(1): $(B)/hpsearch $(patsubst %.c,$(B)/%,$(wildcard tests/$(1)/test_*.c))
	@scripts/run-tests $(B) $(patsubst %.c,$(B)/%,$(wildcard tests/$(1)/test_*.c))
endef
$(foreach m,$(MODULES),$(eval $(call module_tests,$(m))))

bench-engine: $(B)/hpsearch
	bench/engine.sh $(B)

bench-search: $(B)/hpsearch $(B)/bench_search $(B)/bench_search_mo
	bench/search.sh $(B)
	bench/search_mo.sh $(B)

# several objectives and constraints only
bench-search-mo: $(B)/bench_search_mo
	bench/search_mo.sh $(B)

# several objectives: hpsearch's TPE step against Optuna 5's on one history
# (OPTUNA5: the vendored Optuna 5, as bench/search_mo.sh)
bench-search-mo-step: $(B)/bench_search_mo
	PYTHONPATH=$${OPTUNA5:-../shared/vendor/optuna-5.0.0.dev} /usr/bin/python3 bench/search_mo_step.py --bin $(B)/bench_search_mo

bench-daemon: $(B)/hpsearch
	bench/daemon.sh $(B)

# Parameter importance against the vendored Optuna 5 (../shared/vendor).
bench-importance: $(B)/hpsearch $(B)/bench_importance
	bench/importance.sh $(B)

bench-dashboard: $(B)/hpsearch $(B)/bench_dashboard_gen
	bench/dashboard.sh $(B)

bench-sweep: $(B)/hpsearch
	bench/sweep.sh $(B)

# The same recipes trained through `hpsearch worker` and PyTorch, one after
# the other (bench/sweep_trials.py): SWEEP_PARAMS=FILE for other recipes
# (e.g. a sweep's trials, `hpsearch trials --json`), the records in
# $(B)/sweep_trials.json.
SWEEP_PARAMS ?= bench/sweep_recipes.json
bench-sweep-trials: $(B)/hpsearch
	/usr/bin/python3 bench/sweep_trials.py $(B)/hpsearch examples/fashion-mnist.json $(SWEEP_PARAMS) >$(B)/sweep_trials.json

bench-gp-engine: $(B)/hpsearch
	bench/gp_engine.sh $(B)

$(B)/bench_%: bench/%.c $(foreach d,$(cli_DEPS),$(B)/lib$(d).a)
	$(CC) $(BASE_CFLAGS) $(OPT) -o $@ $< $(foreach d,$(cli_DEPS),$(B)/lib$(d).a) $(LDLIBS)

# scripts/demo installs the dependencies first, then builds: no prerequisites here.
demo:
	scripts/demo

clean:
	rm -rf $(B)

# `make install PREFIX=~/.local` (default /usr/local; DESTDIR is prepended for
# packaging): the binary and its man page (docs/hpsearch.1).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man

install: $(B)/hpsearch
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(MANDIR)/man1'
	install -m 755 $(B)/hpsearch '$(DESTDIR)$(BINDIR)/hpsearch'
	install -m 644 docs/hpsearch.1 '$(DESTDIR)$(MANDIR)/man1/hpsearch.1'

uninstall:
	rm -f '$(DESTDIR)$(BINDIR)/hpsearch' '$(DESTDIR)$(MANDIR)/man1/hpsearch.1'

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# ==== fuzzing (tests/fuzz/, owned by F1) =====================================
# `make fuzz-build` builds one libFuzzer binary per tests/fuzz/fuzz_*.c into
# build/fuzz/ (clang, ASan + UBSan, the module sources compiled with the same
# instrumentation). `make fuzz` runs each of them for FUZZ_SECONDS (default
# 60) through scripts/fuzz; `make fuzz-quick` gives each 10 s. None of this is
# part of `make test`: the committed corpus is replayed there by the ordinary
# cmocka tests (tests/*/test_fuzz_replay.c).
FUZZ_CC     ?= clang
FUZZ_B      := $(B)/fuzz
FUZZ_CFLAGS = -g -O1 -std=c11 -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS) \
               -fsanitize=address,undefined -fno-omit-frame-pointer \
               -DHP_CHECK_INVARIANTS
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(FUZZ_B)/%,$(FUZZ_SRCS))
FUZZ_LIBS   := $(foreach d,daemon dash view store engine search common,$(FUZZ_B)/lib$(d).a)
FUZZ_SECONDS ?= 60

.PHONY: fuzz fuzz-build fuzz-quick
fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	scripts/fuzz $(FUZZ_SECONDS)

fuzz-quick: fuzz-build
	scripts/fuzz 10

$(FUZZ_B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(foreach m,$(MODULES),$(eval $(FUZZ_B)/lib$(m).a: $$(call objs_of,$(FUZZ_B),$(m)) ; @mkdir -p $$(dir $$@) && rm -f $$@ && ar rcs $$@ $$^))

$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/*.h $(FUZZ_LIBS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIBS) $(LDLIBS)
# The replay tests include the harness sources: rebuild them when those change.
$(foreach v,$(B) $(B)/asan,$(foreach m,daemon engine search,$(eval $(v)/tests/$(m)/test_fuzz_replay: $(wildcard tests/fuzz/*.c tests/fuzz/*.h))))
# ==== end of fuzzing ==========================================================
