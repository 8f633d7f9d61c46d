#!/usr/bin/env bash
# Installs what building and testing Frost needs on Debian 12, then sets up
# libvirt. Idempotent: apt is only touched when a package is missing, so a
# warm machine pays a few dpkg queries and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  qemu-system-x86            # QEMU/TCG for the bundled guest
  qemu-utils                 # qemu-img, for inspecting disk images by hand
  libvirt-daemon             # libvirtd, for the libvirt launcher tests
  libvirt-daemon-driver-qemu
  libvirt-clients            # virsh, used to probe libvirtd
  clang lld llvm             # the guest toolchain: clang, lld-link, llvm-pdbutil
  protobuf-compiler          # protoc, for `make proto` and the API freshness test
  libprotobuf-dev            # the well-known .proto files (timestamp, duration)
  protobuf-compiler-grpc     # grpc_python_plugin, for the Python client example
  python3-grpcio python3-protobuf # the Python client example's runtime
  procps                     # pgrep, used by setup-libvirt.sh
  lldb                       # opens Frost's process dumps (MDMP) in the procdump test
  tshark                     # reads frostctl monitor network's pcapng in the network tests
  gdb                        # the peer in BenchmarkBreakpointPeers (Debian's gdb on the same gdbstub)
)

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: must run as root (it installs packages and starts libvirtd)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  # dpkg-query prints the status even for removed packages; only
  # "install ok installed" means usable.
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # wireshark-common asks whether non-root users may capture; the answer
  # is preseeded (no: Frost reads files, it never captures) so the install
  # never stops at a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -q
  # Recommends pull in every QEMU architecture, swtpm, lvm2 and more; none
  # of them is needed, and they would triple the install time.
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

exec scripts/setup-libvirt.sh
