#!/usr/bin/env bash
# Generates the Go code of proto/frost/v1 into OUTDIR (default: proto, i.e.
# in place). `make proto` runs it in place; proto/frost/v1's freshness test
# runs it into a temporary directory and diffs, so both use the same tools.
#
# Tools: Debian's protoc (package protobuf-compiler), and the two Go plugins
# installed with `go install module@version` into bin/tools. protoc-gen-go
# must be the google.golang.org/protobuf version in go.mod (the generated
# code checks its runtime version); protoc-gen-go-grpc is its own module,
# pinned here to a release whose go.mod needs no newer grpc than ours.
set -euo pipefail
cd "$(dirname "$0")/.."  # the repository root
export PATH="$PATH:/usr/local/go/bin"

PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
out=${1:-proto}
tools="$PWD/bin/tools"

if ! command -v protoc >/dev/null; then
  echo "generate.sh: protoc not found; install Debian's protobuf-compiler and libprotobuf-dev (make deps)" >&2
  exit 3
fi

pb_version=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)

# Reinstall only when the installed plugin is not the pinned version, so a
# warm tree pays two --version calls.
have() { [ -x "$tools/$1" ] && [ "$("$tools/$1" --version 2>/dev/null)" = "$2" ]; }
if ! have protoc-gen-go "protoc-gen-go $pb_version"; then
  GOBIN="$tools" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$pb_version"
fi
if ! have protoc-gen-go-grpc "protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}"; then
  GOBIN="$tools" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi

mkdir -p "$out"
protoc -I proto -I /usr/include \
  --plugin=protoc-gen-go="$tools/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$tools/protoc-gen-go-grpc" \
  --go_out="$out" --go_opt=paths=source_relative \
  --go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
  proto/frost/v1/*.proto
