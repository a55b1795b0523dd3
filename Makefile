# sluice - the two commands a newcomer needs:
#   make run    install what building and running need (if missing), build,
#               start the broker with defaults
#   make test   also install what the tests need, build, run every test (ctest)
#   make demo   build, then start sluice with a mock Kafka, simulated devices,
#               the analytics consumer and the browser console (docs/EXAMPLES.md)
# Everything else here is for developers and CI.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc)
RUN_ARGS   ?= --dev-kafka

# Debian packages, installed only when missing. `make run`/`make build` take
# only what building and running need (libcunit1-dev: CMake configures the
# unit tests with the rest); tests and benchmarks add their own, so a server
# that only runs sluice never gets the mosquitto broker (whose systemd unit
# takes port 1883) or gnuplot.
RUN_PKGS   = cmake make gcc pkg-config \
             librdkafka-dev libwebsockets-dev libssl-dev libleveldb-dev libcjson-dev libcunit1-dev \
             libcurl4-openssl-dev libjwt-dev
TEST_PKGS  = $(RUN_PKGS) clang clang-format mosquitto mosquitto-clients python3 python3-paho-mqtt kcat \
             procps openssl chromium firefox-esr
# node and npm for the browser test (tests/browser, npm ci); taken from
# Debian only when no npm is on the PATH, so a NodeSource node is left alone
NODE_PKGS  = nodejs npm
DEMO_PKGS  = $(RUN_PKGS) python3
BENCH_PKGS = $(RUN_PKGS) mosquitto mosquitto-clients gnuplot-nox python3 procps openssl

.PHONY: all deps deps-run deps-bench deps-demo deps-node deps-node-pkgs browser-deps build run test demo console-vendor \
        sanitize tsan fuzz bench format format-check clean install

all: build

# $(call install_missing,PACKAGES)
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

deps-run:
	$(call install_missing,$(RUN_PKGS))

# what the tests (and the sanitizer, fuzz and format stages) need
deps:
	$(call install_missing,$(TEST_PKGS))

deps-bench:
	$(call install_missing,$(BENCH_PKGS))

deps-demo:
	$(call install_missing,$(DEMO_PKGS))

deps-node:
	@command -v npm >/dev/null || $(MAKE) --no-print-directory deps-node-pkgs
deps-node-pkgs:
	$(call install_missing,$(NODE_PKGS))

# puppeteer-core and mqtt (pinned in tests/browser/package-lock.json); npm ci
# again whenever the lock file is newer than node_modules
browser-deps: tests/browser/node_modules/.ci-stamp
tests/browser/node_modules/.ci-stamp: tests/browser/package-lock.json tests/browser/package.json | deps-node
	cd tests/browser && npm ci --no-audit --no-fund
	touch $@

build: deps-run
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/sluice $(RUN_ARGS)

test: deps build browser-deps
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# Ctrl-C stops everything it started; see examples/demo.sh for the knobs.
# Builds only the four programs it runs (not the unit tests and benchmarks).
demo: deps-demo
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS) --target sluice sluice-devices sluice-analytics sluice-kafka-mock
	BUILD=$(BUILD) examples/demo.sh

# Refresh the committed MQTT.js from the pinned npm package.
console-vendor: browser-deps
	cp tests/browser/node_modules/mqtt/dist/mqtt.esm.js examples/console/vendor/mqtt.esm.js
	cp tests/browser/node_modules/mqtt/LICENSE.md examples/console/vendor/MQTT.js-LICENSE.md
	echo "mqtt $$(node -p "require('./tests/browser/node_modules/mqtt/package.json').version") (npm), dist/mqtt.esm.js; refreshed by: make console-vendor" \
	  > examples/console/vendor/VERSION

# AddressSanitizer + UndefinedBehaviorSanitizer over the whole suite.
sanitize: deps browser-deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

# ThreadSanitizer over the unit tests and the black-box suites (pools off).
# The first report stops the process (exit 66): a unit test fails, and the
# harness fails the test whose broker printed "WARNING: ThreadSanitizer".
# tests/tsan.supp holds only what is proven benign, each with its proof.
# Left out, for assertions TSan itself breaks (not for reports): itp_limits
# bounds the broker's RSS (TSan's shadow memory is several times the heap);
# unit_store's reads_from_other_threads_during_writes needs its reader
# threads scheduled within a 50 ms sleep; itp_backlog fails under TSan's
# timing without a report (open, see issue 11); ith_hardening's
# max_connections case counts a previous test's connection still in its
# 2 s half-close linger under TSan's slowdown; itf_flow counts PUBACKs
# against a pause whose exact release order TSan's slowdown changes (both
# failed without a TSan report; both run in make test and make sanitize).
# itk_loop's echo count failed once under TSan (4 copies of the foreign
# record instead of 1, no report; 2026-12-03, open in issue 14's note); it
# passes in make test and make sanitize.
TSAN_EXCLUDE ?= ^(itp_limits|itp_backlog|unit_store|ith_hardening|itf_flow|itk_loop)$$
tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_TSAN=ON >/dev/null
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp \
	  ctest --test-dir $(TSAN_BUILD) --output-on-failure -j $(JOBS) -E '$(TSAN_EXCLUDE)'

# libFuzzer targets, each for FUZZ_SECONDS, from the committed seed corpus.
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DSLUICE_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh

bench: deps-bench build
	tests/bench/run.sh

FORMAT_FILES = $(shell git ls-files '*.c' '*.h')
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)

# make install [PREFIX=/usr/local] [SYSCONFDIR=/etc] [DESTDIR=...]: the binary
# built by `make build`, its man page, a starting config (not overwritten),
# the full example and the Grafana dashboard, and a systemd unit.
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR      = $(PREFIX)/bin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
install:
	@test -x $(BUILD)/sluice || { echo "no $(BUILD)/sluice: run make build first"; exit 1; }
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/doc/sluice/examples $(DESTDIR)$(SYSCONFDIR)/sluice $(DESTDIR)$(UNITDIR)
	install -m 755 $(BUILD)/sluice $(DESTDIR)$(BINDIR)/sluice
	install -m 644 dist/sluice.1 $(DESTDIR)$(PREFIX)/share/man/man1/sluice.1
	install -m 644 examples/sluice.json examples/minimal.json examples/bridge.json \
	  examples/grafana-sluice.json $(DESTDIR)$(PREFIX)/share/doc/sluice/examples/
	install -m 644 docs/OPERATIONS.md docs/CONFIG.md docs/KAFKA.md $(DESTDIR)$(PREFIX)/share/doc/sluice/
	test -e $(DESTDIR)$(SYSCONFDIR)/sluice/sluice.json || \
	  install -m 644 dist/sluice.json $(DESTDIR)$(SYSCONFDIR)/sluice/sluice.json
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/sluice.service.in \
	  > $(DESTDIR)$(UNITDIR)/sluice.service
	chmod 644 $(DESTDIR)$(UNITDIR)/sluice.service

