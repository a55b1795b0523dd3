# sluice - the two commands a newcomer needs:
#   make run    install what building and running need (if missing), build,
#               start the broker with defaults
#   make test   also install what the tests need, build, run every test (ctest)
# Everything else here is for developers and CI.

BUILD      ?= build
ASAN_BUILD ?= build-asan
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
TEST_PKGS  = $(RUN_PKGS) clang clang-format mosquitto-clients python3 python3-paho-mqtt kcat \
             procps openssl
BENCH_PKGS = $(RUN_PKGS) mosquitto mosquitto-clients gnuplot-nox python3 procps

.PHONY: all deps deps-run deps-bench build run test sanitize fuzz bench format format-check clean

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

build: deps-run
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/sluice $(RUN_ARGS)

test: deps build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# AddressSanitizer + UndefinedBehaviorSanitizer over the whole suite.
sanitize: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

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
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
