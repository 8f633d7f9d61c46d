// Package nt is Frost's model of a running Windows kernel: it finds the
// kernel image in a guest, loads its symbols, and walks the kernel's own
// structures to list processes, threads, loaded drivers, VAD trees, paging
// files and handles, and to read syscall arguments at a breakpoint.
//
// Nothing about a Windows build is built in. Every structure offset, bit
// position and global comes from the kernel's PDB or ISF (package symbols),
// so a build whose fields move reads the same (mini-NT's reorder build is
// the proof in the integration test, and the TestRealISF* tests read
// synthetic memory laid out by a real Windows 10 kernel's symbols). What is built in is architectural
// (x86-64 paging for the first look at the kernel, the IDT gate format,
// the syscall calling convention) or Windows encodings no symbol
// describes: a handle's index is handle >> 2, TableCode's low two bits are
// the table's levels, the object type index is scrambled with
// ObHeaderCookie and the header's address, and InfoMask's bit 0x2 marks a
// name info, found ObpInfoMaskToOffset[InfoMask & 3] bytes below the
// object header.
//
// # Finding the kernel
//
// Open takes a stopped vCPU's registers and guest-physical memory. It
// starts from an address inside ntoskrnl (Config.From, IDT vector 0's
// handler when Config.IDTBase is given, or a kernel-mode RIP), scans down
// in 4 KiB steps for at most 32 MiB for a PE whose RSDS names a kernel PDB
// (FindKernel), loads the symbols by that identity, takes the System
// process's DTB as the kernel's, and builds a translate.Translator with the
// kernel as its VAD resolver and the registered paging files as its
// pagefile map:
//
//	k, err := nt.Open(ctx, nt.Config{Physical: mem, Registers: stop.Registers, Symbols: store})
//	procs, err := k.Processes()
//	vads, err := k.VADs(procs[i])
//	res := k.Translator.ReadVirtual(procs[i].DTB, va, buf)
//
// One Translator serves every address space: pass a Process's DTB. Paging
// files registered after Open (smss creates them during boot) need a new
// one: NewTranslator, then SetMemory.
//
// # What it answers
//
//	Processes, ProcessByPID/Name/DTB, ProcessAt   PsActiveProcessHead
//	Threads, ThreadAt                              EPROCESS.ThreadListHead
//	KPCR, CurrentThread, Current                   who runs at a stop: owner and address space
//	Drivers, DriverAt                              PsLoadedModuleList
//	VADs, FindVADIn, FindVAD                       the VAD tree; FindVAD is translate.VADResolver
//	PagingFiles, PagefileMap                       MiSystemPartition.Vp.PagingFile[]
//	Handles, KernelHandles, LookupHandle           handle tables, object types, namespace paths, FILE_OBJECT names
//	ControlAreaAt, SubsectionFileName, Files       sections and translate's file resolver
//	SyscallArg(s), NtWriteFile, ReadArgument       arguments at an Nt function's first instruction
//	UnicodeString, Address, Describe               strings and symbols
//
// # Reading the guest
//
// Kernel reads virtual memory through a VirtualMemory: in a kernel from
// Open it is the Translator (so a paged-out pool page is reported with its
// state, never read as zeros), in unit tests a fake. HardwareMemory is a
// plain hardware page walk for the moment before symbols are loaded.
//
// # Untrusted memory
//
// Guest memory is input from an adversary. Every list and tree walk is
// bounded (Limits) and remembers what it visited, so a cyclic
// ActiveProcessLinks or a VAD tree whose child points back at its parent
// ends in a *WalkError (ErrCycle, ErrTooLong, ErrCorrupt) rather than a
// hang; every size read from the guest is capped before it is used. A
// failed read is a *ReadError naming what was read, where and why. Lists
// return what they read before an error together with it.
package nt
