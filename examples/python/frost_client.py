#!/usr/bin/python3
"""A Frost client in Python: list a VM's processes, a process's DLLs, a call stack at a breakpoint in it, then read its memory.

It talks to frostd over its unix socket with Debian's python3-grpcio, using
modules generated from proto/frost/v1 by generate.sh:

    examples/python/generate.sh /tmp/frost-py
    /usr/bin/python3 examples/python/frost_client.py --gen /tmp/frost-py \
        --vm mini-nt --process writer.exe --stack-at nt!NtWriteFile

Call /usr/bin/python3 explicitly: Debian's python3-grpcio is installed for
it only. Errors print the status code and frostd's ErrorDetail (its reason
and metadata), the way a program would act on them.

The memory read goes through frost_local.Reader: on frostd's host it maps
guest RAM (frostd hands it out read-only on its side socket) and walks the
process's page tables itself, asking frostd only for pages that are not
present in hardware; elsewhere, or with --no-local, it reads over gRPC.
--compare reads the range over gRPC too and says whether the bytes match.
"""

import argparse
import os
import string
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_sock = "/run/frost/frostd.sock" if os.geteuid() == 0 else os.path.join(
        os.environ.get("XDG_RUNTIME_DIR", "/tmp/frost-%d" % os.geteuid()), "frost", "frostd.sock")
    p.add_argument("--socket", default=os.environ.get("FROSTD", default_sock), help="frostd's unix socket")
    p.add_argument("--gen", required=True, help="directory of the modules generate.sh wrote")
    p.add_argument("--vm", required=True, help="the attached VM (libvirt domain name)")
    p.add_argument("--process", default="swapper.exe", help="process whose memory to read")
    p.add_argument("--address", type=lambda s: int(s, 0), help="VA to read (default: the start of its first committed VAD)")
    p.add_argument("--length", type=int, default=64)
    p.add_argument("--no-local", action="store_true", help="read over gRPC only, never through a local mapping")
    p.add_argument("--compare", action="store_true", help="also read over gRPC and say whether the bytes match")
    p.add_argument("--no-hexdump", action="store_true", help="do not print the bytes read")
    p.add_argument("--stack-at", metavar="SYMBOL",
                   help="break once at SYMBOL (module!name) in the process and print the call stack there")
    return p.parse_args()


def describe(err, common_pb2, rpc_status_pb2):
    """One line from a failed call: code, message, and ErrorDetail."""
    line = "%s: %s" % (err.code().name, err.details())
    for key, value in err.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = rpc_status_pb2.RpcStatus.FromString(value)
        for any_msg in status.details:
            detail = common_pb2.ErrorDetail()
            if any_msg.Unpack(detail):
                line += " [%s %s]" % (common_pb2.ErrorReason.Name(detail.reason), dict(detail.metadata))
                for page in detail.pages:
                    line += "\n  %#x +%#x: %s" % (page.address, page.length, page.reason)
    return line


def hexdump(address, data, pages):
    unread = [(p.offset, p.offset + p.length) for p in pages if not p.served]
    for line in range(0, len(data), 16):
        chunk = data[line:line + 16]
        cells, text = [], ""
        for i, b in enumerate(chunk):
            off = line + i
            if any(lo <= off < hi for lo, hi in unread):
                cells.append("??")
                text += "?"
            else:
                cells.append("%02x" % b)
                text += chr(b) if chr(b) in string.printable[:-5] else "."
        print("%016x  %-47s  %s" % (address + line, " ".join(cells), text))


def print_stack(args, target, breakpoint_pb2, bps, common_pb2):
    """Breaks once at args.stack_at in target and prints the unwound stack.

    The stream's breakpoint goes when the stream does: cancelling it after
    the first hit leaves nothing armed, and frostd resumed the guest as
    soon as the stack was unwound.
    """
    spec = breakpoint_pb2.BreakpointSpec(symbol=args.stack_at,
                                         filter=breakpoint_pb2.BreakpointFilter(pids=[target.pid]))
    stream = bps.Subscribe(breakpoint_pb2.SubscribeRequest(vm=args.vm, breakpoints=[spec], stack=True), timeout=60)
    try:
        for msg in stream:
            if not msg.HasField("hit"):
                continue
            hit = msg.hit
            print("\nstack at %s in %s (pid %d, tid %d):" % (hit.symbol, hit.process_name, hit.pid, hit.tid))
            print("%3s %18s %18s  %-40s %-8s %s" % ("#", "RSP", "RIP", "Symbol", "Source", "Reached by"))
            for f in hit.stack.frames:
                source = common_pb2.SymbolSource.Name(f.source).replace("SYMBOL_SOURCE_", "").lower()
                method = common_pb2.UnwindMethod.Name(f.method).replace("UNWIND_METHOD_", "").lower()
                print("%3d %#18x %#18x  %-40s %-8s %s" % (f.index, f.rsp, f.rip, f.symbol, source, method))
            if hit.stack.error:
                print("    (the walk stopped: %s)" % hit.stack.error)
            return
    finally:
        stream.cancel()


def read_memory(args, target, address, mem, memory_pb2, common_pb2):
    """Reads args.length bytes at address in target, locally when it can."""
    import frost_local
    reader = frost_local.Reader(args.socket, args.vm, mem, memory_pb2, common_pb2, local=not args.no_local)
    try:
        if reader.ram is not None:
            print("\nlocal memory: %s of %d MiB mapped read-only" % (reader.kind, len(reader.ram) >> 20))
        else:
            print("\nlocal memory: not used (%s); reading over gRPC" % reader.why)
        # The first read learns the DTB from frostd; the second walks locally.
        reader.read_virtual(target.pid, address, args.length)
        reader.local_pages = reader.remote_calls = 0
        data, unserved = reader.read_virtual(target.pid, address, args.length)
        print("%s (pid %d) at %#x: %d page(s) from the mapping, %d call(s) to frostd" % (
            target.name, target.pid, address, reader.local_pages, reader.remote_calls))
        if not args.no_hexdump:
            hexdump(address, data, unserved)
        if args.compare:
            ref = mem.ReadVirtual(memory_pb2.ReadVirtualRequest(
                vm=args.vm, space=common_pb2.AddressSpace(pid=target.pid),
                address=address, length=args.length), timeout=30)
            print("same bytes as frostd's ReadVirtual: %s" % ("yes" if ref.data == data else "NO"))
    finally:
        reader.close()


def main():
    args = parse_args()
    sys.path.insert(0, args.gen)
    import grpc
    from frost.v1 import (breakpoint_pb2, breakpoint_pb2_grpc, common_pb2, memory_pb2, memory_pb2_grpc,
                          process_pb2, process_pb2_grpc)
    import rpc_status_pb2

    channel = grpc.insecure_channel("unix:" + args.socket)
    procs = process_pb2_grpc.ProcessServiceStub(channel)
    mem = memory_pb2_grpc.MemoryServiceStub(channel)
    try:
        resp = procs.ListProcesses(process_pb2.ListProcessesRequest(vm=args.vm), timeout=30)
        print("%6s %6s  %-16s %s" % ("PID", "PPID", "Name", "DTB"))
        for p in resp.processes:
            print("%6d %6d  %-16s %#x" % (p.pid, p.parent_pid, p.name, p.dtb))
        target = next((p for p in resp.processes if p.name.lower() == args.process.lower()), None)
        if target is None:
            print("no process named %s" % args.process, file=sys.stderr)
            return 1
        # Its images, ldrmodules' way: which loader lists name each one, and
        # whether a view of its file maps it.
        mods = procs.ListModules(process_pb2.ListModulesRequest(vm=args.vm, pid=target.pid), timeout=30)
        print("\n%s (pid %d) modules:" % (target.name, target.pid))
        print("%18s %8s  %-14s %-4s %-4s %-4s %-4s %s" % ("Base", "Size", "Name", "Load", "Mem", "Init", "View", "PDB"))
        flag = lambda b: "yes" if b else "-"
        for m in mods.modules:
            pdb = "%s %s-%d" % (m.pdb.pdb_name, m.pdb.guid, m.pdb.age) if m.HasField("pdb") else "-"
            print("%#18x %#8x  %-14s %-4s %-4s %-4s %-4s %s" % (m.base, m.size, m.name or "-", flag(m.in_load_order),
                  flag(m.in_memory_order), flag(m.in_init_order), flag(m.image_view), pdb))
        if args.stack_at:
            print_stack(args, target, breakpoint_pb2, breakpoint_pb2_grpc.BreakpointServiceStub(channel), common_pb2)
        address = args.address
        if address is None:
            vads = procs.ListVads(process_pb2.ListVadsRequest(vm=args.vm, pid=target.pid), timeout=30)
            committed = [v for v in vads.vads if v.mem_commit] or list(vads.vads)
            if not committed:
                print("%s has no VADs to read; pass --address" % args.process, file=sys.stderr)
                return 1
            address = committed[0].start
        read_memory(args, target, address, mem, memory_pb2, common_pb2)
    except grpc.RpcError as err:
        print("frost_client: " + describe(err, common_pb2, rpc_status_pb2), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
