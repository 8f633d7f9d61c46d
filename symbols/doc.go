// Package symbols tells Frost what a Windows build looks like: where a
// function or global sits, where a field of a structure sits (bitfields
// included), how big a type is, and what an enum constant is worth.
//
// Everything Windows-aware in Frost asks through one interface, [Symbols],
// and does not know whether the answers came from a PDB or from a
// Volatility 3 ISF file. Both readers build the same in-memory model,
// [Data], which [New] indexes into a [Table]:
//
//	symbols/msf    the MSF 7.00 container of a PDB (streams over blocks)
//	symbols/pdb    PDB info, DBI (sections, publics, globals) and TPI (types)
//	symbols/isf    Volatility 3 Intermediate Symbol Format: reader and writer
//	symbols/pe     PE identity: the CodeView RSDS record (GUID, age, PDB
//	               name) and SizeOfImage, from a file or from guest memory
//	symbols/store  _NT_SYMBOL_PATH-style symbol store: local directories,
//	               srv*cache*server downloads, offline mode
//
// # Addresses
//
// Every symbol address in this package is an RVA: an offset from the image
// base of the module the symbols describe. ISF stores RVAs too. Callers add
// the module's load address themselves.
//
// # Field paths
//
// [Symbols.Field] takes a dotted path rooted at a type name, such as
// "_MMPTE.u.Hard.PageFrameNumber", "_EPROCESS.Pcb.DirectoryTableBase" or
// "_MMVAD_SHORT.u1.VadFlags1.MemCommit", and returns where the last
// component sits relative to the start of the root type: byte offset, bit
// position and bit length (bitfields), size and kind. A path walks through
// nested structs and unions by member name. Members of an anonymous struct
// or union are reached directly, as C allows (PDBs already flatten them
// into the parent; ISF marks such members "anonymous"), and an anonymous
// member that does carry a generated name can be named too. A component
// may index an array: "_EPROCESS.ImageFileName[3]". A path never crosses
// a pointer, since that would need a memory read.
//
// # Using it
//
//	tab, err := pdb.Open("ntkrnlmp.pdb")           // or isf.Open("....json.xz")
//	st, _ := store.New(`srv*/var/cache/frost*https://msdl.microsoft.com/download/symbols`, "")
//	tab, path, err := st.Load(ctx, img.ID)         // img from pe.Mapped(memory, base)
//	pfn, err := tab.Field("_MMPTE.u.Hard.PageFrameNumber")
//	frame := pfn.Extract(pte)                      // bits 12..47 on Windows 10
//	rva, err := tab.Address("NtCreatePagingFile")
//	fmt.Println(symbols.Describe("nt", tab, rip-base)) // nt!NtWriteFile+0x1c
//
// cmd/frost-isf writes any PDB Frost reads as an ISF for Volatility 3.
//
// # Errors
//
// Lookups fail with a [*LookupError] that names what was missing, where it
// was looked for and in which table; errors.Is matches it against
// [ErrSymbolNotFound], [ErrTypeNotFound], [ErrFieldNotFound],
// [ErrEnumNotFound] and [ErrBadPath]. Malformed files give an error from
// their reader, never a panic.
//
// A [Table] is immutable once built and safe for concurrent use.
package symbols
