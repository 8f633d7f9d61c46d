package translate

import "fmt"

// Bits is a bitfield of a 64-bit page-table entry: Len bits from bit Pos.
// Len 0 means the field does not exist in this build.
type Bits struct {
	Pos, Len uint
}

// Mask returns the field's bits in place.
func (b Bits) Mask() uint64 {
	if b.Len == 0 {
		return 0
	}
	// A 64-bit shift yields 0 in Go, so Len 64 still gives all ones.
	return (uint64(1)<<b.Len - 1) << b.Pos
}

// Get extracts the field from v.
func (b Bits) Get(v uint64) uint64 {
	if b.Len == 0 {
		return 0
	}
	return (v >> b.Pos) & (uint64(1)<<b.Len - 1)
}

// Field is a member of a structure in guest memory, as a symbol table
// describes it: its byte offset from the start of the structure, the size of
// its storage unit in bytes, and for a bitfield its bits within that unit.
type Field struct {
	Offset uint64
	Size   uint64
	Bits   Bits // Len 0: not a bitfield
}

// Symbols is what a Layout needs from the symbol table of the kernel being
// examined. The symbols package (PDB or ISF) satisfies it through a thin
// adapter; tests use fakes.
type Symbols interface {
	// Field resolves a dotted path "Type.Member[.Member...]", following
	// nested structures and unions (e.g. "_SUBSECTION.u.SubsectionFlags.
	// SectorEndOffset"), to the member's offset from the start of Type. ok
	// is false when the type or any member is absent.
	Field(path string) (f Field, ok bool)
	// TypeSize returns sizeof(name).
	TypeSize(name string) (size uint64, ok bool)
}

// Layout holds the bit positions of the _MMPTE family and the members of
// _SUBSECTION that translation reads. Build it with NewLayout from the
// kernel's symbols: PFN widths and software fields differ between builds
// (PageFrameNumber is 36 bits on Windows 10, 40 on Windows 11), so there is
// deliberately no built-in default.
type Layout struct {
	// _MMPTE_HARDWARE: what the CPU walks.
	Valid, LargePage, PageFrameNumber Bits
	// _MMPTE_PROTOTYPE.
	Prototype, ProtoAddress Bits
	// _MMPTE_TRANSITION.
	Transition, TransitionPageFrameNumber Bits
	// _MMPTE_SOFTWARE. SwizzleBit.Len is 0 on builds without L1TF swizzling.
	Protection, PageFileLow, PageFileHigh, SwizzleBit Bits
	// _MMPTE_SUBSECTION.
	SubsectionAddress Bits
	// sizeof(_MMPTE): the stride of prototype PTE arrays.
	PTESize uint64

	Subsection SubsectionLayout
}

// SubsectionLayout places the members of _SUBSECTION that locate a
// file-backed page in its file.
type SubsectionLayout struct {
	Size                uint64 // sizeof(_SUBSECTION)
	SubsectionBase      Field  // first prototype PTE of the subsection
	PtesInSubsection    Field
	StartingSector      Field // first 512-byte sector in the file
	NumberOfFullSectors Field
	// Optional (Size 0 when absent): bits 32..41 of the starting sector, and
	// the byte count of the last, partial sector of the subsection's data.
	StartingSector4132 Field
	SectorEndOffset    Field
}

// LayoutError says which symbol a Layout could not be built from.
type LayoutError struct {
	Path   string
	Reason string
}

func (e *LayoutError) Error() string {
	return fmt.Sprintf("translate: layout: %s: %s", e.Path, e.Reason)
}

// NewLayout builds the Layout from the kernel's symbols.
func NewLayout(sym Symbols) (*Layout, error) {
	b := layoutBuilder{sym: sym}
	l := &Layout{
		Valid:                     b.bits("_MMPTE_HARDWARE.Valid", 1),
		LargePage:                 b.bits("_MMPTE_HARDWARE.LargePage", 1),
		PageFrameNumber:           b.bits("_MMPTE_HARDWARE.PageFrameNumber", 0),
		Prototype:                 b.bits("_MMPTE_PROTOTYPE.Prototype", 1),
		ProtoAddress:              b.bits("_MMPTE_PROTOTYPE.ProtoAddress", pointerBits),
		Transition:                b.bits("_MMPTE_TRANSITION.Transition", 1),
		TransitionPageFrameNumber: b.bits("_MMPTE_TRANSITION.PageFrameNumber", 0),
		Protection:                b.bits("_MMPTE_SOFTWARE.Protection", 0),
		PageFileLow:               b.bits("_MMPTE_SOFTWARE.PageFileLow", 0),
		PageFileHigh:              b.bits("_MMPTE_SOFTWARE.PageFileHigh", 0),
		SubsectionAddress:         b.bits("_MMPTE_SUBSECTION.SubsectionAddress", pointerBits),
		PTESize:                   b.size("_MMPTE"),
	}
	// A build without SwizzleBit never swizzles; its absence is not an error.
	if _, ok := sym.Field("_MMPTE_SOFTWARE.SwizzleBit"); ok {
		l.SwizzleBit = b.bits("_MMPTE_SOFTWARE.SwizzleBit", 1)
	}
	s := &l.Subsection
	s.Size = b.size("_SUBSECTION")
	s.SubsectionBase = b.field("_SUBSECTION.SubsectionBase", true)
	s.PtesInSubsection = b.field("_SUBSECTION.PtesInSubsection", true)
	s.StartingSector = b.field("_SUBSECTION.StartingSector", true)
	s.NumberOfFullSectors = b.field("_SUBSECTION.NumberOfFullSectors", true)
	s.StartingSector4132 = b.field("_SUBSECTION.u.SubsectionFlags.StartingSector4132", false)
	s.SectorEndOffset = b.field("_SUBSECTION.u.SubsectionFlags.SectorEndOffset", false)
	if b.err != nil {
		return nil, b.err
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return l, nil
}

// pointerBits is the width of ProtoAddress and SubsectionAddress: a kernel
// VA stored without its sign-extension bits. The VAD-lookup marker is
// defined on exactly this width.
const pointerBits = 48

type layoutBuilder struct {
	sym Symbols
	err error
}

func (b *layoutBuilder) fail(path, reason string) {
	if b.err == nil {
		b.err = &LayoutError{Path: path, Reason: reason}
	}
}

// bits reads a bitfield of a PTE structure; width, when not 0, is the only
// width that makes sense for it.
func (b *layoutBuilder) bits(path string, width uint) Bits {
	f, ok := b.sym.Field(path)
	if !ok {
		b.fail(path, "not in the symbols")
		return Bits{}
	}
	if f.Offset != 0 || f.Bits.Len == 0 || f.Bits.Pos+f.Bits.Len > 64 {
		b.fail(path, fmt.Sprintf("not a bitfield of the 64-bit entry (offset %d, bits %d+%d)", f.Offset, f.Bits.Pos, f.Bits.Len))
		return Bits{}
	}
	if width != 0 && f.Bits.Len != width {
		b.fail(path, fmt.Sprintf("%d bits wide, want %d", f.Bits.Len, width))
		return Bits{}
	}
	return f.Bits
}

func (b *layoutBuilder) size(name string) uint64 {
	n, ok := b.sym.TypeSize(name)
	if !ok {
		b.fail(name, "type not in the symbols")
	}
	return n
}

func (b *layoutBuilder) field(path string, required bool) Field {
	f, ok := b.sym.Field(path)
	if !ok {
		if required {
			b.fail(path, "not in the symbols")
		}
		return Field{}
	}
	return f
}

// Validate checks that the Layout can drive a walk: every required field is
// present, in range and does not overlap what the walk relies on. NewLayout
// calls it; a caller that fills a Layout by hand should too.
func (l *Layout) Validate() error {
	one := []struct {
		name string
		b    Bits
	}{
		{"Valid", l.Valid}, {"LargePage", l.LargePage}, {"Prototype", l.Prototype}, {"Transition", l.Transition},
	}
	for _, f := range one {
		if f.b.Len != 1 || f.b.Pos > 63 {
			return &LayoutError{Path: f.name, Reason: "must be a single bit"}
		}
	}
	if l.SwizzleBit.Len > 1 || l.SwizzleBit.Pos > 63 {
		return &LayoutError{Path: "SwizzleBit", Reason: "must be a single bit or absent"}
	}
	wide := []struct {
		name string
		b    Bits
	}{
		{"PageFrameNumber", l.PageFrameNumber}, {"TransitionPageFrameNumber", l.TransitionPageFrameNumber},
		{"Protection", l.Protection}, {"PageFileLow", l.PageFileLow}, {"PageFileHigh", l.PageFileHigh},
		{"ProtoAddress", l.ProtoAddress}, {"SubsectionAddress", l.SubsectionAddress},
	}
	for _, f := range wide {
		if f.b.Len == 0 || f.b.Pos+f.b.Len > 64 {
			return &LayoutError{Path: f.name, Reason: fmt.Sprintf("bits %d+%d do not fit an entry", f.b.Pos, f.b.Len)}
		}
	}
	// Physical addresses are PFN << 12 and must stay below 2^64.
	if l.PageFrameNumber.Len+pageShift > 64 || l.TransitionPageFrameNumber.Len+pageShift > 64 {
		return &LayoutError{Path: "PageFrameNumber", Reason: "too wide for a 64-bit physical address"}
	}
	if l.ProtoAddress.Len != pointerBits || l.SubsectionAddress.Len != pointerBits {
		return &LayoutError{Path: "ProtoAddress", Reason: "pointer fields must be 48 bits"}
	}
	if l.PTESize != 8 {
		return &LayoutError{Path: "_MMPTE", Reason: fmt.Sprintf("size %d, x64 entries are 8 bytes", l.PTESize)}
	}
	s := l.Subsection
	if s.Size == 0 || s.Size > maxStructSize {
		return &LayoutError{Path: "_SUBSECTION", Reason: fmt.Sprintf("implausible size %d", s.Size)}
	}
	for name, f := range map[string]Field{
		"SubsectionBase": s.SubsectionBase, "PtesInSubsection": s.PtesInSubsection,
		"StartingSector": s.StartingSector, "NumberOfFullSectors": s.NumberOfFullSectors,
	} {
		if err := checkMember("_SUBSECTION."+name, f, s.Size, true); err != nil {
			return err
		}
	}
	for name, f := range map[string]Field{"StartingSector4132": s.StartingSector4132, "SectorEndOffset": s.SectorEndOffset} {
		if err := checkMember("_SUBSECTION."+name, f, s.Size, false); err != nil {
			return err
		}
	}
	return nil
}

// maxStructSize bounds the structures translation reads from the guest.
const maxStructSize = 4096

func checkMember(path string, f Field, structSize uint64, required bool) error {
	if f.Size == 0 && !required {
		return nil
	}
	switch f.Size {
	case 1, 2, 4, 8:
	default:
		return &LayoutError{Path: path, Reason: fmt.Sprintf("unsupported size %d", f.Size)}
	}
	if f.Offset+f.Size > structSize || uint64(f.Bits.Pos+f.Bits.Len) > 8*f.Size {
		return &LayoutError{Path: path, Reason: "outside its structure"}
	}
	return nil
}

// get reads the member from a copy of its structure.
func (f Field) get(b []byte) uint64 {
	if f.Size == 0 || f.Offset+f.Size > uint64(len(b)) {
		return 0
	}
	var v uint64
	for i := int(f.Size) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[f.Offset+uint64(i)])
	}
	if f.Bits.Len != 0 {
		v = f.Bits.Get(v)
	}
	return v
}
