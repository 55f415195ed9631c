# caps-backup: `make demo` runs it on a demo store, `make test` runs every test, `make bench` measures.
SHELL := /bin/bash
BIN_DEBUG := .build/debug/caps-backup
BIN_RELEASE := .build/release/caps-backup
DEMO_DIR ?= demo-store
DEMO_SIZE_MB ?= 50

.PHONY: deps web build release test demo bench bench-large clean

deps:
	@scripts/install-deps.sh

# The dashboard: `tsc --noEmit` (strict), then the esbuild bundle into the Server target's resources
# (Sources/Server/Resources/web, git-ignored), so every swift build below embeds a fresh one.
web: deps
	web/build.sh

build: web
	swift build

release: web
	swift build -c release --product caps-backup

test: web
	swift build --build-tests
	CAPS_BACKUP_BIN=$(CURDIR)/$(BIN_DEBUG) swift test --skip-build
	python3 tests/api/run_schemathesis.py --bin $(BIN_DEBUG) --st .build-venv/bin/st
	.build-venv/bin/python tests/browser/run_browser_tests.py --bin $(BIN_DEBUG)

demo: release
	@[ -f $(DEMO_DIR)/pos.db ] || $(BIN_RELEASE) demo seed --dir $(DEMO_DIR) --size-mb $(DEMO_SIZE_MB)
	scripts/demo.sh $(BIN_RELEASE) $(DEMO_DIR)

bench: release
	@scripts/install-deps.sh --bench
	python3 bench/run.py --bin $(BIN_RELEASE)
	python3 bench/incremental_bench.py --bin $(BIN_RELEASE)
	python3 bench/files_bench.py --bin $(BIN_RELEASE) --out docs/benchmarks.md
	$(BIN_RELEASE) bench-retention --json
	python3 bench/overview_bench.py --bin $(BIN_RELEASE) --out docs/benchmarks.md
	swift build -c release --product fake-google
	python3 bench/drive_upload_bench.py --bin $(BIN_RELEASE) --fake $(dir $(BIN_RELEASE))fake-google --md docs/benchmarks.md
	.build-venv/bin/python bench/dashboard_bench.py --bin $(BIN_RELEASE) --out docs/benchmarks.md
	.build-venv/bin/python bench/pos_trace_bench.py --bin $(BIN_RELEASE) --out docs/benchmarks.md

# Large stores: 1 GiB and 4 GiB demo databases (the 4 GiB one is seeded once, ~3 minutes, 4 GiB of disk
# plus as much again while it runs); about 20 minutes.
bench-large: release
	@scripts/install-deps.sh --bench
	python3 bench/large_bench.py --bin $(BIN_RELEASE) --md docs/benchmarks.md

clean:
	rm -rf .build
