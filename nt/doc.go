// Package nt is Frost's model of a running Windows kernel: it finds the
// kernel image in a guest, loads its symbols, and walks the kernel's own
// structures to list processes, threads, loaded drivers, VAD trees, paging
// files and handles, and to read syscall arguments at a breakpoint.
//
// Nothing about a Windows build is built in. Every structure offset, bit
// position and global comes from the kernel's PDB or ISF (package symbols),
// so a build whose fields move reads the same. What is built in is
// architectural (x86-64 paging for the first look at the kernel, the IDT
// gate format, the syscall calling convention) or documented Windows
// encodings that no symbol describes (a handle's index is handle >> 2, a
// handle table's level sits in TableCode's low two bits, the object type
// index is scrambled with ObHeaderCookie).
//
// # Reading the guest
//
// Kernel reads virtual memory through a VirtualMemory, which in production
// is translate's Translator over guest-physical memory (so a paged-out pool
// page is reported, never read as zeros), and in unit tests a fake. Open
// builds the whole chain from a physical reader and a register snapshot:
//
//	k, err := nt.Open(ctx, nt.Config{Physical: mem, Registers: regs, Symbols: store})
//	procs, err := k.Processes()
//
// # Untrusted memory
//
// Guest memory is input from an adversary. Every list and tree walk is
// bounded (Limits) and remembers what it visited, so a cyclic
// ActiveProcessLinks or a VAD tree whose child points back at its parent
// ends in a *WalkError rather than a hang; every size read from the guest
// is capped before it is used.
package nt
