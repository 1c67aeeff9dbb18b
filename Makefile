# Thin wrapper around CMake. `make demo` and `make test` do all the set-up.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= 2
CMAKE_FLAGS ?=
EDDY_BENCH_EVENTS ?= 5000000
EDDY_BENCH_RUNS ?= 3

.PHONY: all deps build demo demo-kafka test test-unit bench bench-serve bench-scale-out fuzz format format-check tidy docs clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j$(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD_DIR)

# Kafka to Kafka against the local test broker (docs/kafka.md).
demo-kafka: build
	@bash scripts/demo-kafka.sh $(BUILD_DIR)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS) --timeout 600

test-unit: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS) -L unit

# docs/benchmarks.md; a quick smoke run: make bench EDDY_BENCH_EVENTS=200000 EDDY_BENCH_RUNS=1
bench: build
	@EDDY_BENCH_EVENTS=$(EDDY_BENCH_EVENTS) EDDY_BENCH_RUNS=$(EDDY_BENCH_RUNS) bash scripts/bench.sh $(BUILD_DIR)
	@if [ "$${EDDY_BENCH_SERVE:-1}" = 1 ]; then bash scripts/bench_serve.sh $(BUILD_DIR); fi

# docs/scale-out.md, "Bench": 1, 2 and 3 processes sharing a topic's partitions.
bench-scale-out: build
	@bash scripts/bench_scale_out.sh $(BUILD_DIR)

# docs/benchmarks.md, "Serving": wrk against the HTTP API of a running job.
bench-serve: build
	@bash scripts/bench_serve.sh $(BUILD_DIR)

# docs/fuzzing.md: the libFuzzer targets, built with clang, ASan and UBSan in
# their own build directory, each run for FUZZ_SECONDS; fails on any finding.
FUZZ_SECONDS ?= 60
fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) bash scripts/fuzz.sh build-fuzz

docs: build
	$(BUILD_DIR)/eddy operators --markdown > docs/operators.md
	$(BUILD_DIR)/eddy schema --out docs/eddy-topology.schema.json

FORMAT_FILES = $(shell git ls-files '*.h' '*.cc' 2>/dev/null)

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run -Werror $(FORMAT_FILES)

tidy: $(BUILD_DIR)/CMakeCache.txt
	clang-tidy -p $(BUILD_DIR) $(shell git ls-files 'engine/*.cc' 'operators/*.cc')

clean:
	rm -rf $(BUILD_DIR)
