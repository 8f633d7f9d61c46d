// Package client is the Go client of frostd: the generated gRPC service
// clients on one connection, and guest-memory reads that run at memory
// speed when the program runs on frostd's host.
//
// # Connecting
//
// Dial takes frostd's unix socket path (or "unix:PATH"), or
// "tcp:HOST:PORT" with WithTLS. The service clients (VM, Memory, Process,
// Breakpoint, ...) are fields of the Client.
//
// # Local memory
//
// On a unix socket, ReadPhysical and ReadVirtual ask frostd's side socket
// (frostd.mem.sock beside frostd.sock) for the VM's RAM once: frostd
// checks who is asking (the kernel's peer credentials, logged), and hands
// over a read-only descriptor of the file or memfd that backs guest RAM,
// with the guest-physical map. The client maps it read-only and from then
// on:
//
//   - ReadPhysical copies from the mapping when the whole range is RAM;
//     anything else (a hole, MMIO, past RAM) is frostd's ReadPhysical.
//   - ReadVirtual walks the process's page tables with translate's
//     processor walk over the mapping, using the page-table base (DTB)
//     frostd gave for the pid. A page that is not a present hardware
//     translation (Windows' transition, paging-file, prototype and
//     demand-zero PTEs, ...), or any failure of the walk, is read by
//     frostd's ReadVirtual, which knows every software PTE state. So
//     the bytes are always frostd's answer; only the present pages are
//     served without a round trip.
//
// Over TCP, with WithoutLocalMemory, or when frostd refuses (the VM is
// not attached, its RAM is QEMU's private memory read through
// /proc/<pid>/mem or the gdbstub), every read goes over gRPC. LocalMemory
// says which path a VM's reads take, and why.
//
// # Consistency
//
// Reads are live reads of a running guest, as frostd's own are: the guest
// keeps running (nothing is paused for a read), so a read that spans
// pages, or a walk and the copy after it, can see the guest between two
// of its writes. Pause the VM (CPU.Pause) for a consistent view.
//
// What the client caches, and for how long:
//
//   - A process's DTB is learnt from frostd's ReadVirtual replies and
//     used for at most the DTB max age (WithDTBMaxAge, default 1 s); any
//     gRPC reply for the pid refreshes it and any error drops it. A
//     process that exits within that age can be read through page
//     tables Windows has freed; WithDTBMaxAge(0) asks frostd on every
//     read.
//   - A VM's mapping is rechecked with frostd every WithMapRecheck
//     (default 5 s): a new RAM file (the domain restarted, another QEMU
//     was attached) is mapped afresh, and a refusal unmaps it. A
//     refusal is retried after 5 s.
//   - Nothing else: every page walk reads the page tables afresh.
//
// # Example
//
//	c, err := client.Dial(ctx, "/run/frost/frostd.sock")
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	buf := make([]byte, 4096)
//	err = c.ReadVirtual(ctx, "win10", 1234, 0x7ff6_1234_0000, buf)
//	var pe *client.PartialError
//	if errors.As(err, &pe) {
//		// Some pages were not served (zero-filled); pe.Pages says why.
//	}
package client
