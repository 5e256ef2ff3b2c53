# cpra-agent — run `make help` for the targets.

GO          ?= go
BIN         := bin/cpra-agent
PKG         := github.com/cpra-agent/cpra-agent
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS     := -X $(PKG)/telemetry.version=$(VERSION) -X $(PKG)/telemetry.revision=$(REVISION)
TOOLS_BIN   := $(CURDIR)/.cache/bin
STATICCHECK := $(TOOLS_BIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
# Helm is not packaged for Debian: it is built from the module proxy. The
# ldflags give it a version and a default Kubernetes version (1.37), which a
# `go install`-built helm otherwise lacks.
HELM_VERSION := v3.22.0
HELM_BIN     := $(TOOLS_BIN)/helm
CHART        := deploy/helm/cpra-agent
RUN_ARGS    ?= --web.listen-address=127.0.0.1:9469
# Debian packages the tests start for real: Alertmanager, prometheus for
# promtool (it lints a real scrape of the agent), nginx for the short
# scale run, and buildah for the container image.
TEST_PACKAGES := prometheus-alertmanager prometheus nginx-light buildah
# What the scale benchmark starts: nginx, and blackbox_exporter driven by wrk.
BENCH_PACKAGES := nginx-light wrk prometheus-blackbox-exporter
# make bench-scale N=1000000 INTERVAL=60s [KEEPALIVE=false] [BLACKBOX=60s]
N         ?= 1000000
INTERVAL  ?= 60s
TIMEOUT   ?= 5s
KEEPALIVE ?= true
WARMUP    ?= 2m
MEASURE   ?= 10m
BLACKBOX  ?= 60s
EACH      ?= 20s
# The latency target instead of nginx (MEDIAN > 0): log-normal delay with
# median MEDIAN and shape SHAPE, a HANG and a FAIL share of the monitors,
# over HOSTS loopback addresses.
MEDIAN    ?= 0
SHAPE     ?= 0.6
HANG      ?= 0
FAIL      ?= 0
HOSTS     ?= 16
# make bench-cluster REPLICAS=4 N=100000 INTERVAL=20s HANG=0.005 FAIL=0.005
REPLICAS  ?= 4

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/cpra-agent.
	@echo "$(GO) build -o $(BIN) ./cmd/cpra-agent" >&2
	@$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/cpra-agent

# Make's own lines go to standard error: standard output is the codes, one
# JSON object a line (`make run | jq` works).
.PHONY: run
run: build ## Run the agent on its embedded example (Ctrl-C to stop).
	@echo "./$(BIN) $(RUN_ARGS)" >&2
	@./$(BIN) $(RUN_ARGS)

# make image [BASE_IMAGE=...]: the container image, built offline with
# Debian's buildah into an OCI archive. Its tag is the chart's appVersion,
# which the chart's default image names.
IMAGE       ?= ghcr.io/cpra-agent/cpra-agent
IMAGE_TAG   ?= $(shell awk '/^appVersion:/ {gsub(/"/, "", $$2); print $$2}' $(CHART)/Chart.yaml)
BASE_IMAGE  ?= scratch
IMAGE_FILE  := bin/cpra-agent-image.tar
BUILDAH     := buildah --storage-driver vfs

.PHONY: image
image: ## Build the container image into bin/cpra-agent-image.tar (OCI archive; buildah, offline).
	@$(MAKE) --no-print-directory install-packages PACKAGES="buildah"
	rm -rf bin/image && mkdir -p bin/image/data
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/image/cpra-agent ./cmd/cpra-agent
	cp /etc/ssl/certs/ca-certificates.crt bin/image/
	$(BUILDAH) bud --quiet --layers=false -f Containerfile --build-arg BASE_IMAGE=$(BASE_IMAGE) \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t $(IMAGE):$(IMAGE_TAG) .
	rm -f $(IMAGE_FILE)
	$(BUILDAH) push --quiet $(IMAGE):$(IMAGE_TAG) oci-archive:$(IMAGE_FILE):$(IMAGE):$(IMAGE_TAG)
	@echo "image $(IMAGE):$(IMAGE_TAG) in $(IMAGE_FILE)"

.PHONY: demo-stack
demo-stack: build ## Prometheus, Alertmanager and the agent on loopback with the shipped configurations (Ctrl-C stops them).
	@$(MAKE) --no-print-directory install-packages PACKAGES="prometheus prometheus-alertmanager"
	$(GO) run ./cmd/cpra-demostack -agent $(BIN)

.PHONY: test-deps
test-deps: ## Install the real servers the tests start (Debian packages; needs root).
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(TEST_PACKAGES)"

.PHONY: install-packages
install-packages:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "packages present: $(PACKAGES)"; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "cannot install$$missing (not root or no apt-get): the tests that need them will skip and say so"; \
	else \
		echo "installing$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
			|| echo "installing$$missing failed: the tests that need them will skip and say so"; \
	fi

.PHONY: test
test: test-deps ## Run the whole test suite with the race detector.
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e '/cmd/cpra-agent$$' -e '/internal/scalebench$$')
	@# The end-to-end tests load the machine on purpose (a thousand checks a
	@# second, then the short scale run): they run alone, after the unit
	@# tests, so neither disturbs the other.
	$(GO) test -race -count=1 ./cmd/cpra-agent/
	$(GO) test -race -count=1 ./internal/scalebench/
	$(MAKE) --no-print-directory contract-test fuzz

# Each fuzz target runs for a fixed number of inputs on top of its
# committed corpus (testdata/fuzz); a failure is written there as a new seed
# to commit. Counts, not durations: a -fuzztime duration races Go's fuzzing
# coordinator (go.dev/issue/75804, unfixed in Go 1.26) and fails a clean run
# with "context deadline exceeded". FUZZ_SCALE multiplies the counts.
FUZZ_SCALE ?= 1
FUZZ_TARGETS := ./agent/config:FuzzParseMonitors:100000 ./agent/config:FuzzLoadAgent:20000 \
	./agent/amwebhook:FuzzDecodeWebhook:60000 ./agent/state:FuzzRead:20000 \
	./internal/spec/fastyaml:FuzzParseMatchesYAMLv3:200000

.PHONY: fuzz
fuzz: ## Run every fuzz target for its fixed number of inputs (times FUZZ_SCALE).
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; n=$$(( $${rest#*:} * $(FUZZ_SCALE) )); \
		echo "fuzz $$name ($$pkg, $$n inputs)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $${n}x $$pkg || exit 1; \
	done

.PHONY: contract-test
contract-test: $(HELM_BIN) build ## Dashboards and Helm chart: lint, render and decode strictly (tests/contracts).
	@# No -race: these tests are single-threaded checks of files and rendered
	@# manifests, and instrumenting the Kubernetes and Prometheus packages they
	@# import costs minutes on a cold CI machine.
	cd tests/contracts && HELM_BIN=$(HELM_BIN) CPRA_AGENT_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 ./...

.PHONY: chart-sync
chart-sync: ## Copy the alerting rules and dashboards into the Helm chart.
	rm -f $(CHART)/files/alerting-rules/*.rules.yml $(CHART)/files/dashboards/*.json
	cp alerting-rules/*.rules.yml $(CHART)/files/alerting-rules/
	cp dashboards/*.json $(CHART)/files/dashboards/

$(HELM_BIN):
	GOBIN=$(TOOLS_BIN) $(GO) install -ldflags '-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

.PHONY: test-short
test-short: ## Run the unit tests only (no real servers, no end-to-end).
	$(GO) test -race -short -count=1 ./...

.PHONY: bench
bench: ## Run the benchmarks recorded in docs/performance.md.
	$(GO) test -run '^$$' -bench 'LoadFile' -benchtime 1x ./agent/world/
	$(GO) test -run '^$$' -bench 'Due_1M' -benchtime 3000000x ./agent/world/
	$(GO) test -run '^$$' -bench . -benchmem ./internal/spec/fastyaml/ ./pipelines/sizing/
	$(GO) test -run '^$$' -bench . -benchtime 1000000x ./pipelines/queue/
	$(GO) test -run '^$$' -bench . -benchtime 500000x -benchmem ./pipelines/pipeline/ ./pipelines/breaker/

.PHONY: bench-conn-floor
bench-conn-floor: ## CPU per request on a new connection: net/http, net.Dialer and bare system calls against nginx (EACH per client).
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BENCH_PACKAGES)"
	$(GO) run ./cmd/cpra-scalebench -conn-floor $(EACH)

.PHONY: bench-cluster
bench-cluster: build ## Cluster mode: REPLICAS agents on 127.0.0.1… sharing N monitors every INTERVAL against the latency target; one SIGKILLed once the failing ones are red, then started again (takeover time, moves, pages).
	$(GO) build -o bin/cpra-benchtarget ./cmd/cpra-benchtarget
	$(GO) run ./cmd/cpra-scalebench -agent $(BIN) -cluster $(REPLICAS) -n $(N) -interval $(INTERVAL) \
		-latency-median $(MEDIAN) -hang $(HANG) -fail $(FAIL) -target-bin bin/cpra-benchtarget

.PHONY: bench-scale
bench-scale: build ## The real binary at scale against nginx or the latency target on loopback, beside blackbox_exporter (N, INTERVAL, KEEPALIVE, WARMUP, MEASURE, BLACKBOX; MEDIAN, SHAPE, HANG, FAIL, HOSTS).
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BENCH_PACKAGES)"
	$(GO) build -o bin/cpra-benchtarget ./cmd/cpra-benchtarget
	$(GO) run ./cmd/cpra-scalebench -agent $(BIN) -n $(N) -interval $(INTERVAL) -timeout $(TIMEOUT) \
		-keepalive=$(KEEPALIVE) -warmup $(WARMUP) -measure $(MEASURE) -blackbox $(BLACKBOX) -hosts $(HOSTS) \
		-latency-median $(MEDIAN) -latency-shape $(SHAPE) -hang $(HANG) -fail $(FAIL) -target-bin bin/cpra-benchtarget

$(STATICCHECK):
	GOBIN=$(TOOLS_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: lint
lint: $(STATICCHECK) ## gofmt, go vet and staticcheck.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd tests/contracts && $(GO) vet ./... && $(STATICCHECK) ./...

.PHONY: clean
clean: ## Remove build output.
	rm -rf bin
