package pdb

import "testing"

// TestOMAP: symbols of a rearranged image are placed by the original
// sections, then moved by OMAP; a dropped range has no address.
func TestOMAP(t *testing.T) {
	am := addressMap{
		sections: []section{{name: ".text", va: 0x1000, size: 0x1000}, {name: ".data", va: 0x3000, size: 0x100}},
		omap: []omapEntry{
			{from: 0x1000, to: 0x5000}, // .text's first half moved up
			{from: 0x1800, to: 0},      // second half dropped
			{from: 0x3000, to: 0x2000}, // .data moved down
		},
	}
	for _, c := range []struct {
		seg  uint16
		off  uint32
		want uint64
		ok   bool
	}{
		{1, 0x10, 0x5010, true},
		{1, 0x7ff, 0x57ff, true},
		{1, 0x800, 0, false},
		{2, 0x8, 0x2008, true},
		{3, 0, 0, false}, // no such section
		{0, 0, 0, false},
	} {
		got, ok := am.rva(c.seg, c.off)
		if got != c.want || ok != c.ok {
			t.Errorf("rva(%d, %#x) = %#x, %v; want %#x, %v", c.seg, c.off, got, ok, c.want, c.ok)
		}
	}
	below := addressMap{sections: am.sections, omap: []omapEntry{{from: 0x2000, to: 0x9000}}}
	if _, ok := below.rva(1, 0); ok {
		t.Error("an address below the first OMAP entry was mapped")
	}
	plain := addressMap{sections: am.sections}
	if got, ok := plain.rva(2, 4); !ok || got != 0x3004 {
		t.Errorf("without OMAP: %#x, %v", got, ok)
	}
}
