// Package gdbstub is a client for the GDB remote serial protocol as QEMU's
// gdbstub speaks it (measured on QEMU 7.2): Frost's control plane for stop,
// continue, registers, breakpoints and single-step.
//
// One goroutine owns the connection: it alone reads and writes it and
// holds the protocol state (which packets await an acknowledgement, which
// await a reply, whether the guest runs). Callers hand it batches of
// requests and kick it out of its blocking read. A batch is sent
// contiguously, so that "Hg<thread>" then "g", or "switch to physical
// mode, read, switch back", cannot be split by another caller's packets.
// Requests are pipelined (QEMU answers in order) and replies are matched
// in the order the stub acknowledged the packets, which stays right even
// when it asks for a retransmission.
//
// QEMU's stub has three traits that shape this package:
//   - any byte it receives while the guest runs stops the guest, and that
//     byte is lost; so while the guest runs the owner sends nothing but the
//     interrupt byte 0x03, and calls that need a stopped guest fail with
//     ErrRunning;
//   - it never answers a packet that overflows its buffer, so the client
//     refuses to send one (ErrPacketTooLarge) instead of waiting forever;
//   - under KVM, "p" reads stale values until "g" has synchronized the
//     vCPU, so the owner reads "g" after every stop.
//
// Which breakpoints may be used is not probed: the caller names the
// accelerator and Capabilities say what is allowed.
package gdbstub
