// Package translate turns a Windows x64 virtual address into where its bytes
// really are: physical memory, a paging file, a mapped file, or nowhere, and
// says how it found out.
//
// It decodes every software PTE state the way the memory manager and
// WinDbg's !pte do: hardware-valid (4K, 2M, 1G), transition, paging file,
// the virtual (compressed) store, demand-zero, decommitted, prototype PTEs
// (real pointers and the "ask the VAD" marker), zero entries resolved
// through the VAD, subsection (file-backed) PTEs, and page tables that are
// themselves in transition or paged out.
//
// That is ModelWindows. NewHardware makes a Translator of ModelX86, the
// processor's own walk (present entries, 2M and 1G pages, PCID bits in a
// CR3 ignored), for guests whose Windows kernel is not known: Linux, a
// loader, a Windows whose symbols are missing. It decodes nothing an OS
// keeps in a non-present entry, and says which model answered in every
// Provenance.
//
// The package is pure. It imports nothing of Frost and does no I/O of its
// own: it reads physical memory, paging files and mapped files through
// io.ReaderAt values the caller supplies, and it learns bit layouts
// (Layout, built from the kernel's symbols), the L1TF swizzle mask, VADs and
// file names through small interfaces defined here. Nothing about a Windows
// build is built in: a Layout always comes from the symbols of the kernel
// being examined.
//
// The one exception is FileDir, an optional helper that opens mapped files
// by their guest names inside an os.Root the caller opened.
//
// Guest memory is untrusted input. Every walk is bounded: a walk through a
// prototype PTE may read kernel memory through a nested walk, and nesting
// stops at a fixed depth. Names of mapped files resolve only inside a
// configured directory (FileDir).
package translate
