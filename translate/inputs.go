package translate

import "io"

// Physical reads guest-physical memory: ReadAt(p, pa) fills p from physical
// address pa, or fails (a hole, past RAM). It is io.ReaderAt, named so a
// remapping layer (holes, RAM above 4 GiB, a dump's runs) can be stacked
// under translation without translation knowing.
type Physical interface {
	io.ReaderAt
}

// EntryReader is an optional fast path a Physical may offer: ReadEntry
// returns the little-endian 8 bytes at physical address pa, with exactly
// the outcome an 8-byte ReadAt at pa would have (the same bytes, the same
// errors). A walk reads four entries per translation; through ReadAt each
// read needs a buffer that the interface call forces onto the heap, plus a
// copy, which on flat memory (a mapping of the RAM file) costs more than
// the load itself. Walks use ReadEntry whenever the Physical has it.
type EntryReader interface {
	ReadEntry(pa uint64) (uint64, error)
}

// VAD is what translation needs of one virtual address descriptor.
type VAD struct {
	Start, End uint64 // [Start, End): byte addresses
	Private    bool   // private memory; false for a mapped view
	MemCommit  bool   // private memory committed when the VAD was made
	Protection uint64 // the VAD's software protection
	// FirstPrototypePte is the kernel VA of the view's first prototype PTE
	// (mapped views only). Subsection is the kernel VA of its first
	// _SUBSECTION, for provenance.
	FirstPrototypePte uint64
	Subsection        uint64
}

// VADResolver finds the VAD that contains va in the process whose page
// tables start at dtb. The kernel model (nt) implements it; translate never
// asks about kernel VAs.
type VADResolver interface {
	FindVAD(dtb, va uint64) (vad VAD, found bool, err error)
}

// Pagefile is one paging file, by its number (PageFileLow).
type Pagefile struct {
	// Data reads the paging file; nil when the caller knows the file but
	// cannot supply it.
	Data io.ReaderAt
	// VirtualStore marks the virtual store, where pages are compressed
	// (_MMPAGING_FILE.VirtualStorePagefile).
	VirtualStore bool
}

// FileResolver maps the subsection of a file-backed page to its file.
type FileResolver interface {
	// SubsectionFile returns the file behind the _SUBSECTION at the given
	// kernel VA. When the file is known but not supplied it returns the
	// name with a nil Data and an error wrapping ErrFileNotSupplied.
	SubsectionFile(subsection uint64) (MappedFile, error)
}

// MappedFile is a file that backs a section.
type MappedFile struct {
	Name string
	Data io.ReaderAt
}
