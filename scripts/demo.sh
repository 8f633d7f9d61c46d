#!/usr/bin/env bash
# `make demo`: the whole mission on a fresh Debian 12 machine, as root.
# Set up, build, start libvirtd and frostd, define the bundled guest under
# libvirt with a paging file configured, boot it with winboot (no paging
# file is created, WinPE in-RAM mode forced), then look inside it through
# frostctl only, and tear everything down. The guest is never left frozen:
# frostd is stopped with SIGTERM, which removes every breakpoint and
# detaches (D;1 resumes), before the domain is destroyed.
#
# Environment: DEMO_VM (domain name, default frost-demo), DEMO_MONITOR_SECONDS
# (how long to stream NtWriteFile, default 5), DEMO_SKIP_SETUP=1 (skip
# `make deps`, for a machine already set up).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

vm=${DEMO_VM:-frost-demo}
monitor_seconds=${DEMO_MONITOR_SECONDS:-5}
uri=qemu:///system
repo=$PWD
guest_out=$repo/integration/guest/out

step=0
section() {
  step=$((step + 1))
  printf '\n==> %d/9 %s\n' "$step" "$*"
}
die() {
  echo "demo: FAILED at step $step: $*" >&2
  exit 1
}
# run prints a frostctl command line as a user would type it, then runs it.
run() {
  local line
  line=$(printf '%q ' "$@")
  echo "\$ frostctl ${line% }"
  "$repo/bin/frostctl" "$@"
}
# run_minint does the same for the demo tool, which owns the bundled guest
# (frostd never links it).
run_minint() {
  local line
  line=$(printf '%q ' "$@")
  echo "\$ minint ${line% }"
  "$repo/bin/minint" "$@"
}

[ "$(id -u)" -eq 0 ] || die "run as root: the demo installs packages, starts libvirtd and reads guest RAM"

work=""
frostd_pid=""
domain_dir=""
defined=0

# cleanup runs on every exit, so a failure half-way still leaves no
# frostd, no domain and no stopped guest behind. Each part is idempotent.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ] && [ -n "$work" ] && [ -s "$work/frostd.log" ]; then
    echo "--- frostd's log (last 30 lines) ---" >&2
    tail -n 30 "$work/frostd.log" >&2
  fi
  stop_frostd
  if [ "$defined" = 1 ]; then
    virsh -c "$uri" destroy "$vm" >/dev/null 2>&1 || true
    virsh -c "$uri" undefine "$vm" >/dev/null 2>&1 || true
  fi
  # minint define's directory (disk image, serial log) outlives the
  # domain; only a frost-domain-* directory is ours to remove.
  case "$domain_dir" in
  */frost-domain-*) rm -rf -- "$domain_dir" ;;
  esac
  [ -n "$work" ] && rm -rf -- "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop_frostd asks frostd to shut down gracefully and waits for it: on
# SIGTERM it clears its breakpoints and detaches from every VM it holds.
stop_frostd() {
  [ -n "$frostd_pid" ] || return 0
  if kill -0 "$frostd_pid" 2>/dev/null; then
    kill -TERM "$frostd_pid"
    for _ in $(seq 100); do
      kill -0 "$frostd_pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$frostd_pid" 2>/dev/null; then
      echo "demo: frostd (pid $frostd_pid) did not stop within 20 s; killing it" >&2
      kill -KILL "$frostd_pid" 2>/dev/null || true
    fi
  fi
  wait "$frostd_pid" 2>/dev/null || true
  frostd_pid=""
}

section "setup: packages and libvirt (make deps)"
if [ "${DEMO_SKIP_SETUP:-0}" = 1 ]; then
  echo "skipped (DEMO_SKIP_SETUP=1)"
else
  make --no-print-directory deps || die "make deps failed (see above)"
fi

section "build: mini-NT and the Go programs"
make --no-print-directory guest >/dev/null || die "make guest failed: run it alone to see why"
make --no-print-directory build >/dev/null || die "make build failed: run it alone to see why"
echo "built $guest_out and bin/frostd, bin/frostctl, bin/minint"

section "start libvirtd and frostd"
scripts/setup-libvirt.sh || die "libvirtd is not answering"
virsh -c "$uri" version --daemon | sed -n '/daemon/Ip'
work=$(mktemp -d /tmp/frost-demo.XXXXXX)
chmod 0700 "$work"
export FROSTD=$work/frostd.sock FROST_VM=$vm

# One TCG guest at a time on this machine: tests and benchmarks take the
# same flock around their boots (integration/guest/minint.LockTCG).
lock=/run/lock/frost-tcg.lock
[ -d /run/lock ] || lock=${TMPDIR:-/tmp}/frost-tcg.lock
[ -e "$lock" ] || : >"$lock"
exec 9<"$lock"
if ! flock -n 9; then
  echo "waiting for the machine-wide TCG lock ($lock): another guest is booting"
  flock -w 1800 9 || die "the TCG lock $lock stayed held for 30 min"
fi

if virsh -c "$uri" domstate "$vm" >/dev/null 2>&1; then
  die "a domain named $vm already exists; remove it (virsh destroy/undefine $vm) or set DEMO_VM"
fi

# fd 9 is closed for frostd, so the lock is ours alone and dies with us.
bin/frostd --listen "$FROSTD" --state-file "$work/state.json" \
  --libvirt "$uri" --symbol-path "$guest_out" \
  --data-dir "$work/vms" >"$work/frostd.log" 2>&1 9<&- &
frostd_pid=$!
for _ in $(seq 100); do
  [ -S "$FROSTD" ] && break
  kill -0 "$frostd_pid" 2>/dev/null || die "frostd exited at start"
  sleep 0.1
done
[ -S "$FROSTD" ] || die "frostd did not create $FROSTD within 10 s"
echo "frostd (pid $frostd_pid) listening on $FROSTD"

section "define the bundled guest (paging file C:\\pagefile.sys) and boot it with winboot"
# The demo tool defines the domain (frostd does not launch test guests).
# Booting with winboot needs it shut off, so that Boot can start it paused
# and attach before its first instruction: define it without starting it.
run_minint define "$vm" --guest "$guest_out" --paging-file 'C:\pagefile.sys' --no-start || die "minint define failed"
defined=1
domain_dir=$(virsh -c "$uri" dumpxml "$vm" | sed -n "s|.*<source path='\([^']*\)/serial.log'.*|\1|p" | head -n 1)
serial=$domain_dir/serial.log
run boot "$vm" --winboot >"$work/boot.txt" 2>&1 || {
  cat "$work/boot.txt"
  die "boot --winboot did not succeed"
}
# Progress lines start with a time; the final status is the table after.
grep -E '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.' "$work/boot.txt" || true

section "boot status"
grep -vE '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.|^\$ ' "$work/boot.txt"
grep -q '^Success: *true' "$work/boot.txt" || die "winboot did not report success"

# winboot is done once csrss.exe exists; swapper.exe's workload settles
# later. The guest says `ready` on its serial line when it has.
for _ in $(seq 600); do
  grep -q 'frost-guest: ready' "$serial" 2>/dev/null && break
  sleep 0.2
done
grep -q 'frost-guest: ready' "$serial" || die "the guest did not report ready within 120 s (serial log: $serial)"

section "the VM and its processes (frostctl vms, ps)"
run vms || die "vms failed"
run ps || die "ps failed"

section "vtop of a swapper.exe pattern page"
pattern=$(sed -n 's/.*frost-guest: swapper .*pattern-base=\(0x[0-9a-fA-F]*\).*/\1/p' "$serial" | head -n 1)
[ -n "$pattern" ] || die "no swapper pattern-base in the guest's report ($serial)"
swapper_pid=$(sed -n 's/.*frost-guest: swapper .*pid=\([0-9]*\).*/\1/p' "$serial" | head -n 1)
page3=$(printf '0x%x' $((pattern + 3 * 4096)))
echo "swapper.exe is pid $swapper_pid; its pattern starts at $pattern (the guest's report); page 3:"
run vtop --pid "$swapper_pid" "$page3" || die "vtop failed"
run read --pid "$swapper_pid" "$page3" 0x20 || die "read failed"

section "NtWriteFile events from writer.exe for ${monitor_seconds} s"
set +e
timeout -s INT "$monitor_seconds" "$repo/bin/frostctl" monitor ntwritefile --process writer.exe >"$work/monitor.txt" 2>&1
rc=$?
set -e
echo "\$ frostctl monitor ntwritefile --process writer.exe   (stopped after ${monitor_seconds} s)"
cat "$work/monitor.txt"
# 124: timeout stopped it, as intended; frostctl exits 0 or 130 on ^C.
case $rc in 0 | 124 | 130) ;; *) die "monitor failed (exit $rc)" ;; esac
events=$(grep -c 'writer.exe' "$work/monitor.txt" || true)
[ "$events" -gt 0 ] || die "no NtWriteFile event from writer.exe in ${monitor_seconds} s"

section "tear down"
run state || true
stop_frostd
echo "frostd stopped (SIGTERM: breakpoints removed, guest detached with D;1)"
state=$(virsh -c "$uri" domstate "$vm" | head -n 1)
echo "domain state after frostd let go: $state"
[ "$state" = running ] || die "frostd left $vm $state, not running"
virsh -c "$uri" destroy "$vm" >/dev/null
virsh -c "$uri" undefine "$vm" >/dev/null
defined=0
echo "domain $vm destroyed and undefined"
echo
echo "demo: OK"
