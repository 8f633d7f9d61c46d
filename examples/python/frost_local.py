"""Guest memory at memory speed for a Python client on frostd's host.

frostd serves a side socket beside its gRPC socket (frostd.sock gives
frostd.mem.sock). Asked for a VM, it replies with one JSON line, the
guest-physical map, and passes a read-only descriptor of the file that
backs guest RAM (SCM_RIGHTS). This module maps that file and reads from it:

  * read_physical copies a range that is wholly RAM from the mapping;
  * read_virtual walks the process's 4-level page tables itself (the
    processor's rules: present bit, 1 GiB and 2 MiB pages) over the
    mapping, with the DTB frostd gave for the pid.

Every page the walk cannot serve (not present in hardware: Windows'
transition, paging-file, prototype, demand-zero PTEs...; a hole) is read
by frostd's ReadVirtual/ReadPhysical over gRPC, so the bytes are always
frostd's. Remote clients, and VMs whose RAM frostd cannot hand out (QEMU's
private memory), read over gRPC only; Reader.why says why.

Reads are live reads of a running guest, as frostd's own are. A process's
DTB is trusted for DTB_MAX_AGE seconds, then asked again.
"""

import json
import mmap
import os
import socket
import struct
import time

PROTOCOL_VERSION = 1
DTB_MAX_AGE = 1.0
PAGE = 4096
ADDR_MASK = 0x000FFFFFFFFFF000  # bits 12..51 of an entry


def side_socket(grpc_socket):
    """The side socket's path for frostd's gRPC socket path."""
    d, base = os.path.split(grpc_socket)
    if base.endswith(".sock"):
        base = base[:-len(".sock")]
    return os.path.join(d, base + ".mem.sock")


def ask_ram(path, vm, timeout=10.0):
    """Asks the side socket for vm's RAM: returns (reply dict, fd)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    fds = []
    try:
        s.connect(path)
        s.sendall(json.dumps({"version": PROTOCOL_VERSION, "vm": vm}).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            data, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(4 * 4))
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.extend(struct.unpack("%di" % (len(payload) // 4), payload[:len(payload) - len(payload) % 4]))
            if not data:
                raise OSError("frostd closed the side socket without a reply")
            buf += data
            if len(buf) > 1 << 20:
                raise OSError("side-socket reply too long")
        reply = json.loads(buf.split(b"\n", 1)[0])
        if reply.get("version") != PROTOCOL_VERSION:
            raise OSError("frostd speaks side-socket version %s" % reply.get("version"))
        if reply.get("code") or reply.get("error"):
            raise OSError("frostd refused (%s): %s" % (reply.get("code"), reply.get("error")))
        if len(fds) != 1:
            raise OSError("frostd sent %d descriptors, want 1" % len(fds))
        fd = fds.pop()
        return reply, fd
    finally:
        for fd in fds:
            os.close(fd)
        s.close()


class Reader:
    """Reads one VM's memory, locally when it can, over gRPC otherwise."""

    def __init__(self, grpc_socket, vm, mem_stub, memory_pb2, common_pb2, local=True):
        self.vm, self.mem, self.memory_pb2, self.common_pb2 = vm, mem_stub, memory_pb2, common_pb2
        self.ram, self.ranges, self.kind, self.why = None, [], None, None
        self.dtbs = {}
        self.local_pages = self.remote_calls = 0
        if not local:
            self.why = "local memory turned off"
            return
        try:
            reply, fd = ask_ram(side_socket(grpc_socket), vm)
        except (OSError, ValueError) as err:
            self.why = str(err)
            return
        try:
            self.ram = mmap.mmap(fd, reply["size"], flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
        except (OSError, ValueError) as err:
            self.why = "mapping guest RAM: %s" % err
            return
        finally:
            os.close(fd)
        self.kind = reply.get("kind")
        self.ranges = sorted((r["gpa"], r["size"], r["offset"]) for r in reply.get("ranges", []))

    def close(self):
        if self.ram is not None:
            self.ram.close()
            self.ram = None

    def _offset(self, gpa, length):
        """File offset of [gpa, gpa+length) when it lies in one RAM range."""
        for start, size, off in self.ranges:
            if start <= gpa and gpa + length <= start + size:
                return off + gpa - start
        return None

    def _entry(self, pa):
        off = self._offset(pa, 8)
        if off is None:
            return None
        return struct.unpack_from("<Q", self.ram, off)[0]

    def walk(self, dtb, va):
        """The processor's 4-level walk: the physical address of va, or
        None when an entry is not present or outside RAM."""
        table = dtb & ADDR_MASK
        for level, shift in enumerate((39, 30, 21, 12)):
            e = self._entry(table + ((va >> shift) & 0x1FF) * 8)
            if e is None or not e & 1:
                return None
            if level in (1, 2) and e & 0x80:  # a 1 GiB or 2 MiB page
                size = 1 << shift
                return (e & ADDR_MASK & ~(size - 1)) | (va & (size - 1))
            table = e & ADDR_MASK
        return table | (va & 0xFFF)

    def read_physical(self, pa, length):
        """Returns (data, unserved pieces)."""
        if self.ram is not None:
            off = self._offset(pa, length)
            if off is not None:
                return self.ram[off:off + length], []
        self.remote_calls += 1
        r = self.mem.ReadPhysical(self.memory_pb2.ReadPhysicalRequest(vm=self.vm, address=pa, length=length), timeout=30)
        return r.data, [p for p in r.pages if not p.served]

    def _remote_virtual(self, pid, va, length):
        self.remote_calls += 1
        r = self.mem.ReadVirtual(self.memory_pb2.ReadVirtualRequest(
            vm=self.vm, space=self.common_pb2.AddressSpace(pid=pid), address=va, length=length), timeout=30)
        if r.dtb:
            self.dtbs[pid] = (r.dtb, time.monotonic())
        return r.data, [p for p in r.pages if not p.served]

    def read_virtual(self, pid, va, length):
        """Returns (data, unserved pieces); pieces' offsets are within data."""
        cached = self.dtbs.get(pid)
        if self.ram is None or cached is None or time.monotonic() - cached[1] >= DTB_MAX_AGE:
            return self._remote_virtual(pid, va, length)
        dtb = cached[0]
        out, unserved = bytearray(), []
        gap = None  # (start offset, start va) of a run left to frostd

        def flush(end):
            data, pages = self._remote_virtual(pid, va + gap[0], end - gap[0])
            out[gap[0]:end] = data
            for p in pages:
                p.offset += gap[0]
                unserved.append(p)

        done = 0
        while done < length:
            n = min(PAGE - (va + done) % PAGE, length - done)
            pa = self.walk(dtb, va + done)
            off = None if pa is None else self._offset(pa, n)
            if off is None:
                if gap is None:
                    gap = (done,)
                out += bytes(n)
            else:
                if gap is not None:
                    flush(done)
                    gap = None
                out += self.ram[off:off + n]
                self.local_pages += 1
            done += n
        if gap is not None:
            flush(length)
        return bytes(out), unserved
