# Klaxon. `make run` starts the exporter and receiver (on their defaults,
# or EXPORTER_CONFIG= and RECEIVER_CONFIG=);
# `make test` runs every test. See README.md.

GO          ?= go
BIN         := bin
PKG         := github.com/klaxonhq/klaxon
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH      ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_DATE  := $(shell date -u +%Y%m%d-%H:%M:%S)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS     := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
               -X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=$(USER)@$(shell hostname) \
               -X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

STATICCHECK_VERSION := v0.7.0
GOBIN_DIR   := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN_DIR)/staticcheck

# Debian packages the tests run against, as program:package: Prometheus and
# promtool, Alertmanager and amtool, node_exporter (the benchmark's
# reference), chromium (the status page's browser test), podman (the image
# test) and systemd-analyze (the units' test). The manifests' test also
# needs kubectl 1.27 or later (kustomize v5): Debian's kubernetes-client is
# 1.20, too old, so it is not installed from here.
DEB_TOOLS := promtool:prometheus prometheus:prometheus \
             prometheus-alertmanager:prometheus-alertmanager amtool:prometheus-alertmanager \
             prometheus-node-exporter:prometheus-node-exporter chromium:chromium \
             podman:podman systemd-analyze:systemd

TEST_TIMEOUT ?= 15m

.PHONY: all build test run bench chaos dashboards image lint tools clean

all: lint build test

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/klaxon-exporter ./exporter
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/klaxon-receiver ./receiver

# tools installs the Debian packages of the programs the tests need that are
# missing.
tools:
	@missing=""; for t in $(DEB_TOOLS); do command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
		missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
		echo "installing $$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

test: tools
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# run builds and starts both binaries, on their built-in defaults unless
# EXPORTER_CONFIG or RECEIVER_CONFIG names a config file: the exporter's
# host metrics on EXPORTER_ADDR (:9847), the receiver on RECEIVER_ADDR
# (:9848), its store where its config says (built in: data/). Ctrl-C, or
# a SIGTERM to make, stops both and waits for them (GNU make passes SIGTERM
# on, not a SIGINT sent to make alone); if either exits, the other is
# stopped and make fails with its status.
#   make run EXPORTER_CONFIG=deploy/exporter/klaxon-exporter.yml RECEIVER_CONFIG=deploy/receiver/klaxon-receiver.yml
EXPORTER_CONFIG ?=
RECEIVER_CONFIG ?=
EXPORTER_ADDR   ?= :9847
RECEIVER_ADDR   ?= :9848
run: SHELL := /bin/bash
run: build
	@$(BIN)/klaxon-exporter $(if $(EXPORTER_CONFIG),--config.file=$(EXPORTER_CONFIG)) --web.listen-address=$(EXPORTER_ADDR) & exporter=$$!; \
	$(BIN)/klaxon-receiver $(if $(RECEIVER_CONFIG),--config.file=$(RECEIVER_CONFIG)) --web.listen-address=$(RECEIVER_ADDR) & receiver=$$!; \
	trap 'kill $$exporter $$receiver 2>/dev/null; wait; exit 0' INT TERM; \
	wait -n; status=$$?; kill $$exporter $$receiver 2>/dev/null; wait; exit $$status

# bench compares klaxon-exporter with node_exporter; the receiver's
# webhook with a decode-only handler; and the receiver on PostgreSQL, one
# and three replicas, with the decode-only handler and SQLite (it needs the
# test PostgreSQL, see internal/testenv), each in the same run; the figures
# and how to read them are in docs/benchmarks.md.
bench: tools
	$(GO) test -run '^$$' -bench '^BenchmarkHostScrape$$' -benchtime 200x -count 3 ./internal/benchcmp/
	$(GO) test -run '^$$' -bench '^BenchmarkReceiverIngest$$' -benchtime 1x -count 3 ./internal/benchcmp/
	$(GO) test -run '^$$' -bench '^BenchmarkReceiverIngestPostgres$$' -benchtime 1x -count 3 -timeout 30m ./internal/benchcmp/

# chaos runs the storm and fault scenarios of internal/chaos at full size:
# 10,000 alerts in 60 s through Alertmanager, two-minute upstream outages,
# a crash in a storm, a full and a read-only disk, the bad-input corpus,
# and three replicas on a private PostgreSQL behind a balancer, fed by two
# clustered Alertmanagers, through a storm in which a replica is killed,
# another stopped past takeover_after, PostgreSQL restarted and an
# Alertmanager killed (it needs PostgreSQL's server programs). It takes
# about 15 minutes; make test runs the short versions.
# CHAOSMD=file also writes the figures as a Markdown table (the table in
# docs/benchmarks.md).
CHAOSMD ?=
chaos: tools
	KLAXON_CHAOS=full $(GO) test -count=1 -timeout 40m -v -run TestChaos ./internal/chaos/ -chaosmd=$(if $(CHAOSMD),$(abspath $(CHAOSMD)))

# image builds the container images klaxon-exporter and klaxon-receiver
# (deploy/image/Containerfile, one per binary) with podman, offline: FROM
# scratch, from static binaries, the build host's CA bundle and an empty
# /data. Each is tagged $(IMAGE_TAG) and latest. IMAGE_PREFIX names a
# registry, e.g. IMAGE_PREFIX=ghcr.io/klaxonhq/. See deploy/image/README.md.
PODMAN        ?= podman
IMAGE_PREFIX  ?=
IMAGE_TAG     ?= $(VERSION)
IMAGE_CONTEXT ?= $(BIN)/image
IMAGE_SOURCE  ?= https://github.com/klaxonhq/klaxon
CA_BUNDLE     ?= /etc/ssl/certs/ca-certificates.crt
# podman 4 reuses a cached stage with the labels of an earlier build; the
# stages are a few COPYs. Docker: IMAGE_BUILD_FLAGS= (it has no --layers).
IMAGE_BUILD_FLAGS ?= --layers=false
image:
	@rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)/data
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(IMAGE_CONTEXT)/klaxon-exporter ./exporter
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(IMAGE_CONTEXT)/klaxon-receiver ./receiver
	cp $(CA_BUNDLE) $(IMAGE_CONTEXT)/ca-certificates.crt
	for b in exporter receiver; do \
		$(PODMAN) build --quiet $(IMAGE_BUILD_FLAGS) --target $$b -f deploy/image/Containerfile \
			--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
			--build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) --build-arg SOURCE=$(IMAGE_SOURCE) \
			-t $(IMAGE_PREFIX)klaxon-$$b:$(IMAGE_TAG) -t $(IMAGE_PREFIX)klaxon-$$b:latest \
			$(IMAGE_CONTEXT) || exit 1; \
	done

# dashboards regenerates the Grafana dashboards under
# deploy/grafana/dashboards/ from their Go definitions in deploy/grafana;
# deploy/grafana's test fails until the committed files match.
dashboards:
	$(GO) run ./deploy/grafana/cmd/gendashboards --out deploy/grafana/dashboards

$(STATICCHECK):
	GOFLAGS=-mod=mod $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(STATICCHECK)
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

clean:
	rm -rf $(BIN)

# kubernetes-rules regenerates the PrometheusRule manifests of
# deploy/kubernetes from rules/*.yml; deploy/kubernetes's test fails until
# the committed ones match.
.PHONY: kubernetes-rules
kubernetes-rules:
	$(GO) run ./deploy/kubernetes/genrules -rules rules -out deploy/kubernetes/rules
