#!/usr/bin/env bash
# Brings up libvirtd on a machine without systemd (a container, CI), in the
# four steps of platform-facts.md. Every step is idempotent, so tests call
# this before touching libvirt and a warm machine returns in well under a
# second.
set -euo pipefail

conf=/etc/libvirt/qemu.conf
sock=/var/run/libvirt/libvirt-sock
uri=qemu:///system
wait_seconds=${FROST_LIBVIRT_WAIT:-30}

log() { echo "setup-libvirt: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root"
  exit 1
fi
for tool in libvirtd virtlogd virsh; do
  command -v "$tool" >/dev/null || { log "$tool not found: run scripts/deps.sh"; exit 1; }
done

# 1. libvirtd refuses to start if its default QEMU user does not exist,
#    even though qemu.conf tells it to run QEMU as root.
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null ||
  useradd --system --gid libvirt-qemu --no-create-home \
    --home-dir /var/lib/libvirt --shell /usr/sbin/nologin libvirt-qemu

# 2. QEMU runs as root (so it can open files the tests made), and file-backed
#    guest RAM goes to tmpfs where a reader can mmap it.
changed=0
set_conf() { # key value
  local key=$1 value=$2 line
  line="$key = $value"
  if grep -qxF "$line" "$conf"; then
    return
  fi
  if grep -qE "^[[:space:]]*$key[[:space:]]*=" "$conf"; then
    sed -i -E "s|^[[:space:]]*$key[[:space:]]*=.*|$line|" "$conf"
  else
    printf '%s\n' "$line" >>"$conf"
  fi
  changed=1
}
mkdir -p "$(dirname "$conf")"
[ -f "$conf" ] || : >"$conf"
set_conf user '"root"'
set_conf group '"root"'
set_conf memory_backing_dir '"/dev/shm/libvirt-ram"'

# 3. Directories libvirtd expects but does not create itself. /dev/shm is a
#    tmpfs, so the RAM directory is gone after every reboot.
mkdir -p /var/log/libvirt/qemu /dev/shm/libvirt-ram

answers() { virsh -c "$uri" version >/dev/null 2>&1; }

# 4. Start the daemons that are not running. A libvirtd started before the
#    config changed still runs with the old one, so restart it then.
if [ "$changed" = 1 ] && [ -f /var/run/libvirtd.pid ]; then
  pid=$(cat /var/run/libvirtd.pid)
  if kill -0 "$pid" 2>/dev/null; then
    log "qemu.conf changed: restarting libvirtd (pid $pid)"
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
fi

if ! pgrep -x virtlogd >/dev/null; then
  log "starting virtlogd"
  virtlogd -d
fi

if answers; then
  exit 0
fi

if ! pgrep -x libvirtd >/dev/null; then
  log "starting libvirtd"
  # Its complaints about dnsmasq, D-Bus, DMI and /dev/mem are harmless here.
  libvirtd -d
fi

# A cold libvirtd takes 8-9 s before it answers; give it a generous bound.
deadline=$((SECONDS + wait_seconds))
until answers; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "libvirtd did not answer on $sock within ${wait_seconds}s"
    virsh -c "$uri" version >&2 || true
    exit 1
  fi
  sleep 0.5
done
log "libvirtd answers on $sock"
