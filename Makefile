# Thin wrapper around CMake: the README's two commands live here.
#   make demo   install missing packages, build, run the gateway on simulated providers (:8080)
#   make test   install missing packages, build with ASan/UBSan, run every test
#   make bench  install missing packages, build, run bench/run (docs/benchmarks.md; ~10 min)
#               bench-quick: bench/run --quick; bench-soak: bench/run --soak 10
MAKEFLAGS  += --no-print-directory
BUILD      ?= build
TEST_BUILD ?= build/asan
JOBS       ?= $(shell nproc)

.PHONY: all build demo test deps test-deps bench-deps unit integration bench bench-quick bench-soak clean

all: build

deps:
	@tools/deps.sh build

test-deps:
	@tools/deps.sh test

bench-deps:
	@tools/deps.sh bench

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target tollgate tollgatectl tollgate-sim tollgate-loadgen \
		tollgate-route-eval

demo: build
	@tools/demo.sh $(BUILD)

tests/integration/node_modules: tests/integration/package.json tests/integration/package-lock.json
	@cd tests/integration && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test: test-deps tests/integration/node_modules
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTG_SANITIZE=ON -DTG_WERROR=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@cd $(TEST_BUILD) && ctest --output-on-failure -j 2

bench: build bench-deps
	@bench/run

bench-quick: build bench-deps
	@bench/run --quick

bench-soak: build bench-deps
	@bench/run --soak 10

clean:
	rm -rf $(BUILD)
