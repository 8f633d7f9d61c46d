package translate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/pdb"
)

// symbolsAdapter shows that Frost's symbols package satisfies translate's
// Symbols with a few lines; the wiring in nt will look like this.
type symbolsAdapter struct{ s symbols.Symbols }

func (a symbolsAdapter) Field(path string) (Field, bool) {
	f, err := a.s.Field(path)
	if err != nil {
		return Field{}, false
	}
	return Field{Offset: f.Offset, Size: f.Size, Bits: Bits{uint(f.BitPosition), uint(f.BitLength)}}, true
}

func (a symbolsAdapter) TypeSize(name string) (uint64, bool) {
	n, err := a.s.Size(name)
	return n, err == nil
}

// TestLayoutFromMiniNTPDB builds the Layout from the real PDB lld-link
// wrote for mini-NT, whose _MMPTE family has Windows 10 19041's bits.
func TestLayoutFromMiniNTPDB(t *testing.T) {
	path := filepath.Join("..", "integration", "guest", "out", "ntkrnlmp.pdb")
	if _, err := os.Stat(path); err != nil {
		missing(t, "mini-NT is not built (make guest): %v", err)
	}
	tab, err := pdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sym := symbolsAdapter{tab}
	l, err := NewLayout(sym)
	if err != nil {
		t.Fatal(err)
	}
	// The PTE bits are Windows'; _SUBSECTION's offsets are whatever the
	// compiler chose, so check them against the PDB, not against Windows.
	want := testLayout(36)
	want.Subsection = l.Subsection
	if *l != *want {
		t.Fatalf("NewLayout =\n%+v\nwant\n%+v", l, want)
	}
	for name, f := range map[string]Field{"SubsectionBase": l.Subsection.SubsectionBase, "StartingSector": l.Subsection.StartingSector} {
		if f.Size == 0 {
			t.Errorf("_SUBSECTION.%s not found", name)
		}
	}
	if l.Subsection.SectorEndOffset.Bits.Len != 12 || l.Subsection.StartingSector4132.Bits.Len != 10 {
		t.Errorf("nested flags: %+v", l.Subsection)
	}
	d := newDecoder(l, mask46)
	e := d.decode(0x000020000891F860, false)
	if e.kind != KindTransition || e.pfn != 0x891F || e.protection != 3 {
		t.Fatalf("seed example decodes as %+v", e)
	}
}

// TestAdapterOverSymbolsTable builds the Layout through symbols' own path
// resolution (nested anonymous unions included) from a model that mirrors
// the real 19041 ISF, so the check does not depend on a built guest.
func TestAdapterOverSymbolsTable(t *testing.T) {
	u64 := symbols.TypeRef{Kind: symbols.KindBase, Name: "unsigned long long"}
	u16 := symbols.TypeRef{Kind: symbols.KindBase, Name: "unsigned short"}
	u32 := symbols.TypeRef{Kind: symbols.KindBase, Name: "unsigned long"}
	ptr := symbols.TypeRef{Kind: symbols.KindPointer, Sub: &symbols.TypeRef{Kind: symbols.KindStruct, Name: "_MMPTE"}}
	bf := func(name string, store symbols.TypeRef, off uint64, pos, n uint32) symbols.Member {
		s := store
		return symbols.Member{Name: name, Offset: off, Type: symbols.TypeRef{Kind: symbols.KindBitfield, Sub: &s, BitPosition: pos, BitLength: n}}
	}
	pte := func(members ...symbols.Member) *symbols.UserType {
		return &symbols.UserType{Kind: symbols.KindStruct, Size: 8, Fields: members}
	}
	d := &symbols.Data{
		BaseTypes: map[string]symbols.BaseType{
			"unsigned long long": {Size: 8, Kind: symbols.BaseInt},
			"unsigned long":      {Size: 4, Kind: symbols.BaseInt},
			"unsigned short":     {Size: 2, Kind: symbols.BaseInt},
			"pointer":            {Size: 8, Kind: symbols.BaseInt},
		},
		UserTypes: map[string]*symbols.UserType{
			"_MMPTE_HARDWARE":   pte(bf("Valid", u64, 0, 0, 1), bf("LargePage", u64, 0, 7, 1), bf("PageFrameNumber", u64, 0, 12, 36)),
			"_MMPTE_PROTOTYPE":  pte(bf("Prototype", u64, 0, 10, 1), bf("ProtoAddress", u64, 0, 16, 48)),
			"_MMPTE_TRANSITION": pte(bf("Transition", u64, 0, 11, 1), bf("PageFrameNumber", u64, 0, 12, 36)),
			"_MMPTE_SOFTWARE": pte(bf("SwizzleBit", u64, 0, 4, 1), bf("Protection", u64, 0, 5, 5),
				bf("PageFileLow", u64, 0, 12, 4), bf("PageFileHigh", u64, 0, 32, 32)),
			"_MMPTE_SUBSECTION": pte(bf("SubsectionAddress", u64, 0, 16, 48)),
			"_MMPTE":            {Kind: symbols.KindStruct, Size: 8},
			"_SUBSECTION": {Kind: symbols.KindStruct, Size: 56, Fields: []symbols.Member{
				{Name: "SubsectionBase", Offset: 8, Type: ptr},
				{Name: "u", Offset: 32, Type: symbols.TypeRef{Kind: symbols.KindUnion, Name: "__anonymous_294d"}},
				{Name: "StartingSector", Offset: 36, Type: u32},
				{Name: "NumberOfFullSectors", Offset: 40, Type: u32},
				{Name: "PtesInSubsection", Offset: 44, Type: u32},
			}},
			"__anonymous_294d": {Kind: symbols.KindUnion, Size: 4, Fields: []symbols.Member{
				{Name: "LongFlags", Type: u32},
				{Name: "SubsectionFlags", Type: symbols.TypeRef{Kind: symbols.KindStruct, Name: "_MMSUBSECTION_FLAGS"}},
			}},
			"_MMSUBSECTION_FLAGS": {Kind: symbols.KindStruct, Size: 4, Fields: []symbols.Member{
				bf("StartingSector4132", u16, 0, 6, 10), bf("SectorEndOffset", u16, 2, 4, 12),
			}},
		},
	}
	tab, err := symbols.New(d)
	if err != nil {
		t.Fatal(err)
	}
	checkWin10Layout(t, symbolsAdapter{tab})
}
