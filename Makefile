# Frost's entry points. `make demo` and `make test` work as root on a fresh
# Debian 12 machine: both start with `deps`, which installs what is missing.

SHELL := /bin/bash
# Go lives in /usr/local/go on our machines, which a non-login shell (CI)
# may not have on PATH.
export PATH := $(PATH):/usr/local/go/bin

GO ?= go
GUEST_DIR := integration/guest
# Generous: the integration suite boots mini-NT a dozen times under TCG, one
# at a time (the TCG lock), on a 2-core machine.
TEST_TIMEOUT ?= 80m

.PHONY: all deps guest build test demo proto clean fuzz man

all: build

deps:
	scripts/deps.sh

guest:
	$(MAKE) -C $(GUEST_DIR)

# BUILD_CMD is the one command that builds the programs; the Dockerfile's
# build stage runs the same (a test in cmd/frostd checks it). -buildvcs=auto
# stamps the commit into both binaries (frostctl --version shows frostctl's
# and frostd's) even where GOFLAGS turns stamping off, and builds without
# it where there is no .git (a Docker context).
BUILD_CMD := CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=auto -o bin/ ./cmd/...

build:
	$(GO) build ./...
	$(BUILD_CMD)

# The static checks come first: they take seconds, the suite takes minutes.
# staticcheck is a tool dependency pinned in go.mod (`go get -tool`), so
# every machine runs the same version and the binaries do not link it; it
# exits non-zero on any finding, which fails the target. `go mod tidy -diff`
# fails when go.mod or go.sum is not what the imports need.
# FROST_REQUIRE_INTEGRATION turns "skip: no QEMU or no guest" into a failure,
# so CI can never pass by silently skipping the boots. -count=1 because the
# test cache cannot see the guest binaries QEMU loads.
test: deps guest
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	FROST_REQUIRE_INTEGRATION=1 $(GO) test -p 1 -count=1 -timeout $(TEST_TIMEOUT) ./...

# Man pages of frostctl and each of its commands, from the same help
# --help prints (frostctl man DIR). MANDIR is where they go.
MANDIR ?= bin/man/man1
man:
	$(GO) run ./cmd/frostctl man $(MANDIR)

# The demo does its own setup and build (scripts/demo.sh, step by step, with
# a header per step), so its output reads as the whole story.
demo:
	scripts/demo.sh

# Regenerates proto/frost/v1's Go code in place with Debian's protoc and the
# pinned plugins (proto/generate.sh installs them into bin/tools). The
# generated code is committed; a test in proto/frost/v1 fails when it is stale.
proto:
	proto/generate.sh proto

# Every fuzz target for FUZZTIME each (default 60s), one after another; fails
# on a crash, whose input Go keeps under the package's testdata/fuzz/. Not
# part of `test`: it takes FUZZTIME times the number of targets.
FUZZTIME ?= 60s

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

clean:
	rm -rf bin
