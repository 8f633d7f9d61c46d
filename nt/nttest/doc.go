// Package nttest lays out a Windows-like guest in physical memory for unit
// tests of the packages above nt (winboot, monitor, the session): x86-64
// page tables under a CR3, a mapped ntoskrnl image whose headers name
// ntkrnlmp.pdb, its globals, and kernel objects (processes, strings)
// written through a symbol table, so nothing here knows an offset. With
// the real Windows 10 ISF (RealISF) the layout is a real kernel's; nt.Open
// finds the kernel from a stop's registers as it does in a live guest.
//
// It is test support: only _test files import it.
package nttest
