# cunbo build, test, bench and demo. See README.md.
SHELL := /bin/bash
# Debian's Go lives outside the default PATH on a fresh machine.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
# The toolchain is pinned to a patch release with the standard library's
# security fixes (govulncheck in test-vuln checks it); the go command
# downloads it once into the module cache.
export GOTOOLCHAIN := go1.26.10
BIN := bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the tests and the demo talk to as real peers.
DEB_PKGS := time ffmpeg nginx libnginx-mod-rtmp curl git sox espeak-ng fonts-noto-cjk fonts-noto-color-emoji chromium qemu-user-static iproute2 ca-certificates systemd strace dpkg gcc-aarch64-linux-gnu libc6-dev-arm64-cross postgresql-15
# The lint package's segmenter runs on a trimmed dictionary; the gse default
# dictionary (~200 MiB heap) is compiled out.
GOTAGS := ne
GOFLAGS_BUILD := -tags $(GOTAGS) -trimpath
PURE_CMDS := ./cmd/cunbo ./cmd/cunbo-review
FUZZTIME ?= 15s

.PHONY: test-vuln bench-lint-arm64 bench-weaklink deps-demo test-demo all build build-arm64 build-armv7 build-speech build-speech-arm64 models deps test test-unit test-fuzz bench demo clean

all: build

build: build-speech
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/ $(PURE_CMDS)

# The speech worker is the one cgo binary: it links sherpa-onnx's prebuilt
# shared libraries (shipped inside the Go module). They are copied to
# lib/ beside the binary, which finds them through RUNPATH $ORIGIN/lib; see
# speech/README.md for what to install on the Pi.
# The module's folder is looked up in the recipe, after go build has
# downloaded it: a make variable would be expanded before the build, and
# empty on a machine with an empty module cache.
SHERPA_LIBS = "$$($(GO) list -m -f '{{.Dir}}' github.com/k2-fsa/sherpa-onnx-go-linux)/lib"
SPEECH_LDFLAGS := -Wl,-rpath,$$ORIGIN/lib

build-speech:
	@mkdir -p $(BIN)/lib
	CGO_ENABLED=1 CGO_LDFLAGS='$(SPEECH_LDFLAGS)' $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/cunbo-speech ./cmd/cunbo-speech
	libs=$(SHERPA_LIBS)/$$(uname -m)-unknown-linux-gnu; cp -f "$$libs/libsherpa-onnx-c-api.so" "$$libs/libonnxruntime.so" $(BIN)/lib/

build-speech-arm64:
	@mkdir -p $(BIN)/arm64/lib
	CC=aarch64-linux-gnu-gcc CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CGO_LDFLAGS='$(SPEECH_LDFLAGS)' \
		$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/arm64/cunbo-speech ./cmd/cunbo-speech
	libs=$(SHERPA_LIBS)/aarch64-unknown-linux-gnu; cp -f "$$libs/libsherpa-onnx-c-api.so" "$$libs/libonnxruntime.so" $(BIN)/arm64/lib/

# models fetches the recommended Mandarin models into models/ (needs the
# internet; the build machines here are offline, so it fails loudly there).
models:
	./speech/fetch-models.sh models

build-arm64:
	@mkdir -p $(BIN)/arm64
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/arm64/ $(PURE_CMDS)

build-armv7:
	@mkdir -p $(BIN)/armv7
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/armv7/ $(PURE_CMDS)

# apt_install installs the Debian packages in $(1) that are missing.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

# deps installs the Debian packages the tests use as real peers (only the
# missing ones) and downloads the Go modules.
deps:
	$(call apt_install,$(DEB_PKGS))
	$(GO) mod download

# deps-demo installs what the demo needs: ffmpeg encodes, the CJK fonts draw
# the product cards.
DEMO_PKGS := ffmpeg fonts-noto-cjk ca-certificates
deps-demo:
	$(call apt_install,$(DEMO_PKGS))
	$(GO) mod download

test: deps test-vuln test-demo test-unit test-root test-arm64 test-fuzz

# govulncheck fails on any vulnerability the code can reach. The online
# database is not reachable from the build machines, so the database is the
# Go module golang.org/x/vulndb at a pinned commit: its data/osv holds the
# OSV entries and its own cmd/indexdb writes the index/ and ID/ layout that
# govulncheck's -db file:// reads. Bump VULNDB_VERSION to learn of new ones.
GOVULNCHECK_VERSION := v1.10.0
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB_DIR := $(BIN)/vulndb/$(VULNDB_VERSION)
test-vuln:
	@set -e; if [ ! -f $(VULNDB_DIR)/index/db.json ]; then \
		src=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
		[ -d "$$src/data/osv" ] || { echo "test-vuln: no data/osv in golang.org/x/vulndb@$(VULNDB_VERSION) ($$src)"; exit 1; }; \
		rm -rf $(VULNDB_DIR).tmp; \
		$(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) -vulns "$$src/data/osv" -out $(VULNDB_DIR).tmp; \
		rm -rf $(VULNDB_DIR); mv $(VULNDB_DIR).tmp $(VULNDB_DIR); \
	fi
	$(GO) run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) -db file://$(abspath $(VULNDB_DIR)) -tags $(GOTAGS) ./...

# The network-namespace tests (ip netns, tc) need root and measure timing
# through shaped links: they run in test-root, alone and one package at a
# time, so they neither load nor are loaded by the rest of the suite on a
# small machine (run alongside it they once broke both: a starved box
# adapted its picture down in the browser and clip tests).
ROOT_TEST_PKGS := ./bench/weaklink/... ./stream/linkwatch/...

# The end-to-end tests run a whole box in real time (ffmpeg, nginx, Chromium,
# speech) under the race detector: two of them at once on a 2-core machine
# starve each other into failures no box would see, so the test binaries
# are built in parallel and then run one package at a time.
UNIT_TEST_PKGS = $$($(GO) list -tags $(GOTAGS) ./... | grep -v -e /bench/weaklink -e /stream/linkwatch)
test-unit:
	$(GO) vet -tags $(GOTAGS) ./...
	$(GO) test -tags $(GOTAGS) -race -count=1 -run '^$$' $(UNIT_TEST_PKGS)
	$(GO) test -tags $(GOTAGS) -race -p 1 -timeout 40m $(UNIT_TEST_PKGS)
	# the linter's cross-validation trains a model per fold: natively, since
	# under -race it took 17 minutes and skips itself there
	$(GO) test -tags $(GOTAGS) -count=1 -timeout 20m -run '^TestCategoryModelCrossValidation$$' ./lint/

# As root directly; otherwise through sudo, so CI never counts them as
# skipped.
test-root:
	$(SUDO) env "PATH=$$PATH" "HOME=$$HOME" "GOCACHE=$$($(GO) env GOCACHE)" "GOMODCACHE=$$($(GO) env GOMODCACHE)" \
		$(GO) test -tags $(GOTAGS) -race -count=1 -p 1 -timeout 20m $(ROOT_TEST_PKGS)

# Each fuzz target runs briefly on top of its committed seed corpus.
test-fuzz:
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do \
		pkg=./$$(dirname $${f#./}); \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$pkg $$fn"; \
			if ! out=$$($(GO) test -tags $(GOTAGS) -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x $$pkg 2>&1); then \
				echo "$$out"; \
				if echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
					echo "fuzz: the fuzz time ran out while go test was handling a new input (a toolchain flake, no failing input); once more"; \
					$(GO) test -tags $(GOTAGS) -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x $$pkg || exit 1; \
				else exit 1; fi; \
			else echo "$$out" | tail -n 2; fi; \
		done; \
	done

# Unit tests of the pure-Go packages that run on the box, cross-compiled for
# arm64 and run under qemu-user, each from its package directory (testdata).
ARM64_TEST_PKGS := hw firmware overlay lint segment bundle
test-arm64:
	@set -e; out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	for top in $(ARM64_TEST_PKGS); do \
		[ -d "$$top" ] || { echo "test-arm64: $$top: none yet, skipped"; continue; }; \
		for pkg in $$($(GO) list -tags $(GOTAGS) ./$$top/... 2>/dev/null); do \
			dir=$$($(GO) list -tags $(GOTAGS) -f '{{.Dir}}' $$pkg); \
			ls "$$dir"/*_test.go >/dev/null 2>&1 || { echo "test-arm64: $$pkg: no tests, skipped"; continue; }; \
			bin="$$out/$$(echo $$pkg | tr / _).test"; \
			GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) test -c -tags $(GOTAGS) -o "$$bin" $$pkg; \
			echo "test-arm64: $$pkg"; \
			(cd "$$dir" && CUNBO_TEST_EMULATOR=qemu-aarch64-static qemu-aarch64-static "$$bin" -test.timeout 10m) || exit 1; \
		done; \
	done

# .deb packages for the Pi (arm64, armhf) and for a PC demo box (amd64),
# and of the review service (amd64, arm64).
DEB_VERSION ?= $(shell git describe --tags --always 2>/dev/null | sed 's/^v//; s/^\([^0-9]\)/0~\1/' || echo 0.0.0)
deb:
	@mkdir -p $(BIN)/deb
	@set -e; for arch in amd64 arm64 armhf; do \
		case $$arch in armhf) goarch=arm;; *) goarch=$$arch;; esac; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$goarch GOARM=7 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/deb/$$arch/cunbo ./cmd/cunbo; \
		bash systemd/deb/build.sh $$arch $(BIN)/deb/$$arch/cunbo $(BIN)/deb $(DEB_VERSION); \
	done
	bash systemd/deb/check.sh $(BIN)/deb/cunbo_$(DEB_VERSION)_amd64.deb
	@set -e; for arch in amd64 arm64; do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/deb/$$arch/cunbo-review ./cmd/cunbo-review; \
		bash systemd/deb/review/build.sh $$arch $(BIN)/deb/$$arch/cunbo-review $(BIN)/deb $(DEB_VERSION); \
	done
	bash systemd/deb/review/check.sh $(BIN)/deb/cunbo-review_$(DEB_VERSION)_amd64.deb

# The console's benchmarks load 100 000 segments into SQLite and into a
# throwaway PostgreSQL per run, and give their own p50/p95 over many
# requests: one run of a fixed count each, not six timed ones.
CONSOLE_BENCH := ./review/console
bench: build
	set -o pipefail; $(GO) test -tags $(GOTAGS) -run '^$$' -bench . -benchmem -count 6 \
		$$($(GO) list -tags $(GOTAGS) ./... | grep -vx 'github.com/cunbo/cunbo/review/console') | tee bench.txt
	set -o pipefail; $(GO) test -tags $(GOTAGS) -run '^$$' -bench . -benchtime 300x -count 1 -timeout 30m $(CONSOLE_BENCH) | tee -a bench.txt

# The linter's speed, cold start and RSS under qemu arm64, the second
# measure of its budgets: BenchmarkCheck cross-compiled and run under the
# emulator, and BenchmarkLintColdStart running the arm64 binary under it.
bench-lint-arm64:
	$(call apt_install,qemu-user-static)
	mkdir -p $(BIN)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) test -c -tags $(GOTAGS) -o $(BIN)/lint-arm64.test ./lint/
	set -o pipefail; cd lint && qemu-aarch64-static ../$(BIN)/lint-arm64.test -test.run '^$$' -test.bench 'Check' \
		-test.benchmem -test.count 5 -test.benchtime 3000x | tee ../bench-arm64.txt
	set -o pipefail; CUNBO_BENCH_EMULATOR=qemu-aarch64-static $(GO) test -tags $(GOTAGS) -run '^$$' \
		-bench LintColdStart -benchtime 5x -count 3 ./cmd/cunbo/ | tee -a bench-arm64.txt

# Weak-link bench (root: ip netns, tc; through sudo otherwise): cunbo vs
# the ffmpeg baseline. PROFILES=stepdown,outage selects; RUNS repeats
# (medians); STEADY_RUNS and BASELINE_RUNS, when set, repeat the long
# steady profiles (good4g, rural4g, 3g) and the baseline fewer times;
# SCALE<1 shortens the steady profiles. Report: bench/out/weaklink.{md,json}
# and PNG plots.
PROFILES ?=
RUNS ?= 1
STEADY_RUNS ?= 0
BASELINE_RUNS ?= 0
SCALE ?= 1
bench-weaklink: deps
	$(GO) build -tags $(GOTAGS) -o $(BIN)/weaklink ./bench/weaklink/cmd/weaklink
	$(SUDO) $(BIN)/weaklink -profiles '$(PROFILES)' -runs $(RUNS) -steady-runs $(STEADY_RUNS) \
		-baseline-runs $(BASELINE_RUNS) -scale $(SCALE) -out bench/out

# The simulated box with its phone page, beside the review service
# (embedded default: SQLite and files under DEMO_DATA/review) that receives
# its flagged moments when it is idle, and its console with a demo social
# worker (user demo, password made once and kept in DEMO_DATA/review/
# demo-login): idle until the big button (on the page, or key b in this
# terminal); the URLs, the PIN and the login are printed.
DEMO_HTTP ?= 127.0.0.1:8080
DEMO_REVIEW ?= 127.0.0.1:8091
# When the shared test models are present, the demo runs the real speech
# worker with Silero VAD and the scripted plumbing model (it always "hears"
# the demo clip's sentence, 今天的辣椒酱全网最低价), so a newcomer sees the
# whole warning loop; real Mandarin models come from `make models`.
DEMO_MODELS := ../shared/testdata/models
DEMO_SPEECH := $(if $(wildcard $(DEMO_MODELS)/scripted-ctc/model.onnx),--speech-model $(DEMO_MODELS)/scripted-ctc --speech-vad $(DEMO_MODELS)/silero-vad/silero_vad.onnx --speech-worker $(BIN)/cunbo-speech)
# DEMO_DATA is where the demo keeps its recording, flagged moments, the
# review service's data and the logs; DEMO_ARGS adds flags to cunbo sim.
DEMO_DATA ?= $(or $(XDG_STATE_HOME),$(HOME)/.local/state)/cunbo-sim
DEMO_ARGS ?=
demo: deps-demo build
	@set -e; data='$(DEMO_DATA)'; mkdir -p "$$data/review"; \
	key=$$(./$(BIN)/cunbo sim --data "$$data" --print-key); \
	pub=$$(echo "$$key" | sed -n 's/.*(public key): //p'); id=$$(echo "$$key" | sed -n 's/.*(box id): //p'); \
	./$(BIN)/cunbo-review box list --data "$$data/review" | grep -q "$$id" || \
		./$(BIN)/cunbo-review box add --data "$$data/review" --key-hex "$$pub" --name 演示盒子 >/dev/null; \
	login="$$data/review/demo-login"; \
	if [ ! -s "$$login" ]; then \
		./$(BIN)/cunbo-review user add --data "$$data/review" --role social demo | sed -n 's/^password: //p' >"$$login.tmp"; \
		chmod 600 "$$login.tmp"; mv "$$login.tmp" "$$login"; \
		./$(BIN)/cunbo-review box assign --data "$$data/review" "$$id" demo >/dev/null; \
	fi; \
	echo "审核台 (review console): http://$(DEMO_REVIEW)/console/   账号 (user): demo   密码 (password): $$(cat "$$login")"; \
	echo "练习 (practice, nothing published): 手机页面按 🎓 练习，或 make demo DEMO_ARGS=--practice"; \
	./$(BIN)/cunbo-review serve --data "$$data/review" --listen $(DEMO_REVIEW) 2>>"$$data/review.log" & review=$$!; \
	trap 'kill $$review 2>/dev/null; wait $$review 2>/dev/null || true' EXIT; \
	./$(BIN)/cunbo sim --portrait --http $(DEMO_HTTP) --open $(DEMO_SPEECH) --data "$$data" --review http://$(DEMO_REVIEW) $(DEMO_ARGS)

# test-demo runs `make demo` as a newcomer would — a clean clone beside this
# one, an empty Go module cache — presses the big button through the API and
# checks the whole loop: live, the warning, a flagged segment on disk.
test-demo:
	bash .ci/demo-check

clean:
	rm -rf $(BIN) bench.txt bench-arm64.txt
