package pe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Bounds on an export directory.
const (
	// MaxExports bounds the address and name tables: ordinals are 16
	// bits, so no loader can reach an entry past 65536.
	MaxExports = 1 << 16
	// MaxExportName bounds one name or forwarder string (MSVC truncates
	// decorated names at 4096).
	MaxExportName = 4096
	// maxExportNameBytes bounds all names together, so a table of 65536
	// names of 4 KiB each cannot make Frost hold 256 MiB of strings.
	maxExportNameBytes = 8 << 20
	// maxExportDir bounds the export directory's stated size, which
	// covers the tables and strings (ntdll's is about 100 KiB).
	maxExportDir = 16 << 20
	// maxDLLName bounds the DLL name (MAX_PATH).
	maxDLLName = 260
	// maxProblems bounds the reasons kept for skipped entries.
	maxProblems = 8

	exportDirSize = 40
	edTimeDate    = 4
	edName        = 12
	edBase        = 16
	edNFunctions  = 20
	edNNames      = 24
	edFunctions   = 28
	edNames       = 32
	edOrdinals    = 36
)

// Export is one entry of an image's export table.
type Export struct {
	Name      string // "" for an export by ordinal only
	Ordinal   uint32 // the ordinal base plus the entry's index
	RVA       uint32 // of the code or data; of the forwarder string for a forwarder
	Forwarder string // "DLL.Func" or "DLL.#N" when the export forwards, else ""
}

// Symbol is the export's name, or "#ordinal" for one without a name.
func (e Export) Symbol() string {
	if e.Name == "" {
		return fmt.Sprintf("#%d", e.Ordinal)
	}
	return e.Name
}

// Exports is an image's export table read from memory.
type Exports struct {
	DLLName       string
	OrdinalBase   uint32
	TimeDateStamp uint32
	List          []Export // by ordinal, then name; aliases are separate entries
	// Skipped counts entries left out as malformed (a name ordinal past
	// the address table, an RVA past the image, a name without its NUL);
	// Problems holds the first few reasons, and a bad DLL name. An entry
	// whose name alone is bad stays, as an export by ordinal.
	Skipped  int
	Problems []error
	// Incomplete is set when names or forwarder strings lay in pages that
	// could not be read; the entries they belong to are left out, and
	// Exports returns an *UnreadableError naming the pages beside this.
	Incomplete bool

	sizeOfImage uint32
	byName      map[string]int // index into List
	byRVA       []int          // non-forwarders, by RVA, preferred first
}

// Exports reads the export table of the image. The directory's header
// and its three tables must be readable: if a page of them is not, the
// result is an *UnreadableError naming every such page. Malformed entries
// are skipped and counted. Names in unreadable pages leave their entries
// out: then both the partial table (Incomplete set) and an
// *UnreadableError are returned. An image without exports gives an error
// wrapping ErrNoDirectory.
func (h *Headers) Exports(m Memory) (*Exports, error) {
	le := binary.LittleEndian
	d, err := h.directory(DirExport, maxExportDir, "export directory")
	if err != nil {
		return nil, err
	}
	if d.Size < exportDirSize {
		return nil, bad("export directory of %d bytes", d.Size)
	}
	pages := newImagePages(m, h.Base, h.SizeOfImage)
	hdr := pages.read(d.RVA, exportDirSize)
	if hdr == nil {
		return nil, pages.unreadable("export directory")
	}
	x := &Exports{
		OrdinalBase:   le.Uint32(hdr[edBase:]),
		TimeDateStamp: le.Uint32(hdr[edTimeDate:]),
		sizeOfImage:   h.SizeOfImage,
		byName:        map[string]int{},
	}
	nFuncs, nNames := le.Uint32(hdr[edNFunctions:]), le.Uint32(hdr[edNNames:])
	if nFuncs > MaxExports || nNames > MaxExports {
		return nil, bad("export directory claims %d functions and %d names, over %d", nFuncs, nNames, MaxExports)
	}
	funcsRVA, namesRVA, ordsRVA := le.Uint32(hdr[edFunctions:]), le.Uint32(hdr[edNames:]), le.Uint32(hdr[edOrdinals:])
	for _, t := range []struct {
		rva, size uint32
		what      string
	}{
		{funcsRVA, nFuncs * 4, "export address table"},
		{namesRVA, nNames * 4, "export name table"},
		{ordsRVA, nNames * 2, "export ordinal table"},
	} {
		if t.size != 0 {
			if err := inImage(h.SizeOfImage, t.rva, t.size, MaxExports*4, t.what); err != nil {
				return nil, err
			}
		}
	}
	var funcs, names, ords []byte
	if nFuncs != 0 {
		funcs = pages.read(funcsRVA, nFuncs*4)
	}
	if nNames != 0 {
		names, ords = pages.read(namesRVA, nNames*4), pages.read(ordsRVA, nNames*2)
	}
	if ue := pages.unreadable("export directory"); ue != nil {
		return nil, ue
	}

	// The name is a label only: a bad one is a problem, not a failure,
	// and no entry is skipped for it.
	if name, unreadable, err := pages.cString(le.Uint32(hdr[edName:]), maxDLLName, "DLL name"); err != nil {
		x.Problems = append(x.Problems, err)
	} else if !unreadable {
		x.DLLName = name
	}
	isForwarder := func(rva uint32) bool { return rva >= d.RVA && rva-d.RVA < d.Size }
	named := make([]bool, nFuncs)
	nameBytes := 0
	for i := uint32(0); i < nNames; i++ {
		idx := uint32(le.Uint16(ords[2*i:]))
		if idx >= nFuncs {
			x.problem(bad("export name %d has ordinal index %d, past %d functions", i, idx, nFuncs))
			continue
		}
		if nameBytes > maxExportNameBytes {
			x.problem(bad("export names over %d bytes; the rest are skipped", maxExportNameBytes))
			x.Skipped += int(nNames - i - 1) // problem counted this one
			break
		}
		name, unreadable, err := pages.cString(le.Uint32(names[4*i:]), MaxExportName, "export name")
		if unreadable {
			x.Incomplete = true
			continue
		}
		if err == nil && name == "" {
			err = bad("export name %d is empty", i)
		}
		if err != nil {
			x.problem(err)
			continue
		}
		nameBytes += len(name)
		// A bad address-table entry is counted once, under its name.
		named[idx] = true
		e, ok := x.entry(pages, idx, le.Uint32(funcs[4*idx:]), isForwarder)
		if !ok {
			continue
		}
		e.Name = name
		x.List = append(x.List, e)
	}
	for idx := uint32(0); idx < nFuncs; idx++ {
		rva := le.Uint32(funcs[4*idx:])
		// A zero slot is a gap in the ordinals (lld leaves ordinal 0
		// empty), not an export.
		if named[idx] || rva == 0 {
			continue
		}
		if e, ok := x.entry(pages, idx, rva, isForwarder); ok {
			x.List = append(x.List, e)
		}
	}
	x.index()
	if x.Incomplete {
		return x, pages.unreadable("export names")
	}
	return x, nil
}

// entry makes the export at address-table index idx, or counts it
// skipped.
func (x *Exports) entry(pages *imagePages, idx, rva uint32, isForwarder func(uint32) bool) (Export, bool) {
	e := Export{Ordinal: x.OrdinalBase + idx, RVA: rva}
	switch {
	case rva == 0:
		x.problem(bad("export ordinal %d has no address", e.Ordinal))
		return e, false
	case rva >= x.sizeOfImage:
		x.problem(bad("export ordinal %d at RVA %#x, past SizeOfImage %#x", e.Ordinal, rva, x.sizeOfImage))
		return e, false
	case !isForwarder(rva):
		return e, true
	}
	fwd, unreadable, err := pages.cString(rva, MaxExportName, "forwarder")
	if unreadable {
		x.Incomplete = true
		return e, false
	}
	if dot := strings.LastIndexByte(fwd, '.'); err == nil && (dot <= 0 || dot == len(fwd)-1) {
		err = bad("export ordinal %d forwards to %q, not DLL.Function", e.Ordinal, clip([]byte(fwd)))
	}
	if err != nil {
		x.problem(err)
		return e, false
	}
	e.Forwarder = fwd
	return e, true
}

func (x *Exports) problem(err error) {
	x.Skipped++
	if len(x.Problems) < maxProblems {
		x.Problems = append(x.Problems, err)
	}
}

// index sorts List and builds the lookups.
func (x *Exports) index() {
	sort.SliceStable(x.List, func(i, j int) bool {
		a, b := x.List[i], x.List[j]
		if a.Ordinal != b.Ordinal {
			return a.Ordinal < b.Ordinal
		}
		return a.Name < b.Name
	})
	for i, e := range x.List {
		if e.Name != "" {
			if _, dup := x.byName[e.Name]; !dup {
				x.byName[e.Name] = i
			}
		}
		if e.Forwarder == "" {
			x.byRVA = append(x.byRVA, i)
		}
	}
	// At one address, a named export is a better label than an ordinal,
	// and the lowest name is the stable choice among aliases.
	sort.SliceStable(x.byRVA, func(i, j int) bool {
		a, b := x.List[x.byRVA[i]], x.List[x.byRVA[j]]
		if a.RVA != b.RVA {
			return a.RVA < b.RVA
		}
		if (a.Name == "") != (b.Name == "") {
			return a.Name != ""
		}
		return a.Name < b.Name
	})
}

// ByName returns the export called name (exact, case-sensitive, as the
// loader's GetProcAddress matches).
func (x *Exports) ByName(name string) (Export, bool) {
	i, ok := x.byName[name]
	if !ok {
		return Export{}, false
	}
	return x.List[i], true
}

// Nearest returns the closest export that is not a forwarder at or below
// rva, and rva's offset from it. An rva past the image has none. The
// offset can be large when rva lies past the last export of a section;
// callers that care check SectionAt.
func (x *Exports) Nearest(rva uint32) (Export, uint32, bool) {
	if rva >= x.sizeOfImage {
		return Export{}, 0, false
	}
	// The first entry above rva; the group just before it is at the
	// highest RVA at or below.
	n := sort.Search(len(x.byRVA), func(i int) bool { return x.List[x.byRVA[i]].RVA > rva })
	if n == 0 {
		return Export{}, 0, false
	}
	at := x.List[x.byRVA[n-1]].RVA
	first := sort.Search(n, func(i int) bool { return x.List[x.byRVA[i]].RVA >= at })
	e := x.List[x.byRVA[first]]
	return e, rva - e.RVA, true
}

// Err joins the reasons entries were skipped or the DLL name is
// missing, or is nil.
func (x *Exports) Err() error {
	if len(x.Problems) == 0 {
		return nil
	}
	return fmt.Errorf("pe: %d export entries skipped: %w", x.Skipped, errors.Join(x.Problems...))
}
