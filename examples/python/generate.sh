#!/usr/bin/env bash
# Generates the Python modules of frost/v1 into OUTDIR with Debian's protoc
# and grpc_python_plugin (packages protobuf-compiler and
# protobuf-compiler-grpc, which match python3-grpcio 1.51). Nothing
# generated is committed: the example's test runs this first.
set -euo pipefail
out=${1:?usage: generate.sh OUTDIR}
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
plugin=$(command -v grpc_python_plugin || true)
if [ -z "$plugin" ]; then
  echo "generate.sh: grpc_python_plugin not found; install Debian's protobuf-compiler-grpc (make deps)" >&2
  exit 3
fi
mkdir -p "$out"
protoc -I "$root/proto" -I "$here" -I /usr/include \
  --python_out="$out" --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python="$plugin" \
  "$root"/proto/frost/v1/*.proto "$here/rpc_status.proto"
