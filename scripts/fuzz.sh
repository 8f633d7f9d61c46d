#!/usr/bin/env bash
# Runs every fuzz target in the module, one after another, for FUZZTIME each
# (default 60s), and fails if any of them found a crash. Go keeps a failing
# input in the package's testdata/fuzz/<Target>/, where the ordinary
# `go test` then replays it, so a finding stays a regression test.
#
# Settings that keep the engine fuzzing rather than minimising:
#   -fuzzminimizetime (FUZZMINIMIZE, default 1s): Go's default is 60s per
#     new "interesting" input, which made slow targets spend their whole
#     minute minimising one input (8-22 executions in 60s);
#   -parallel (FUZZPARALLEL, default 2): the machines have two cores, and
#     more workers than cores only adds scheduling and memory.
#
# Usage: scripts/fuzz.sh [regexp]   (only targets whose Package.Name match)
# A summary line per target (execs, execs/s, time, result) is printed at the
# end and written to $FUZZOUT (default /tmp/frost-fuzz/summary.tsv).
set -uo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-60s}
FUZZMINIMIZE=${FUZZMINIMIZE:-1s}
FUZZPARALLEL=${FUZZPARALLEL:-2}
FUZZOUT=${FUZZOUT:-/tmp/frost-fuzz/summary.tsv}
GO=${GO:-go}
filter=${1:-.}

mkdir -p "$(dirname "$FUZZOUT")"
logdir=$(dirname "$FUZZOUT")/logs
mkdir -p "$logdir"
printf 'target\tpackage\texecs\texecs/s\telapsed\tresult\n' >"$FUZZOUT"

# Targets are found the way Go finds them: func FuzzXxx(f *testing.F) in a
# _test.go file. Listing them here, not by hand, means a new target is
# fuzzed without touching this script.
mapfile -t targets < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
  sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*).*#\1 \2#' | sort -u)

if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz.sh: no fuzz targets found" >&2
  exit 1
fi

failed=0
for entry in "${targets[@]}"; do
  pkg=${entry% *}
  name=${entry#* }
  if ! [[ "$pkg.$name" =~ $filter ]]; then
    continue
  fi
  log="$logdir/${pkg//\//_}.$name.log"
  echo "=== $pkg $name (for $FUZZTIME)"
  start=$(date +%s)
  # -run '^$' skips the package's ordinary tests; the seed corpus of the
  # target is still run first by the fuzzing engine.
  "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" \
    -fuzzminimizetime "$FUZZMINIMIZE" -parallel "$FUZZPARALLEL" "./$pkg" >"$log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  # The engine's last status line: "fuzz: elapsed: 60s, execs: 123 (2/sec), ..."
  last=$(grep -E '^fuzz: elapsed: ' "$log" | tail -n 1)
  execs=$(sed -nE 's/.*execs: ([0-9]+) .*/\1/p' <<<"$last")
  elapsed=$(sed -nE 's/^fuzz: elapsed: ([0-9hms]+),.*/\1/p' <<<"$last")
  rate=""
  secs=$(sed -nE 's/^([0-9]+)s$/\1/p; s/^([0-9]+)m([0-9]+)s$/\1 \2/p' <<<"$elapsed" |
    awk 'NF==1{print $1} NF==2{print $1*60+$2}')
  if [ -n "$execs" ] && [ -n "$secs" ] && [ "$secs" -gt 0 ]; then
    rate=$((execs / secs))
  fi
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result="FAIL (see $log)"
    failed=1
    tail -n 30 "$log"
  fi
  printf '%s\t%s\t%s\t%s\t%ss\t%s\n' "$name" "$pkg" "${execs:-?}" "${rate:-?}" "$took" "$result" >>"$FUZZOUT"
  echo "    execs ${execs:-?}, ${rate:-?}/s, ${took}s wall: $result"
done

echo
column -t -s $'\t' "$FUZZOUT"
if [ $failed -ne 0 ]; then
  echo "fuzz.sh: a target failed; its input is kept under the package's testdata/fuzz/" >&2
  exit 1
fi
