package pdb

import (
	"bytes"
	"errors"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/internal/minipdb"
)

// An address past the image was named after its last symbol, however far
// past (issue 19: "addresses outside any module are named after the last
// symbol"). The PDB's section headers say where the image ends; past it,
// no symbol of this table names an address.
func TestNearestStopsAtImageEnd(t *testing.T) {
	g, _ := symbols.ParseGUID("606FF669409B00F7FC8C61A9C1670129")
	p := minipdb.PDB{GUID: g, Age: 1, BlockSize: 512,
		Sections: []minipdb.Section{{Name: ".text", VA: 0x1000, Size: 0x100}, {Name: ".data", VA: 0x2000, Size: 0x80}},
		Publics:  []minipdb.Public{{Name: "Fn", Section: 1, Offset: 4}}}
	b := p.Bytes()
	res, err := Read(bytes.NewReader(b), int64(len(b)), "mini.pdb")
	if err != nil {
		t.Fatal(err)
	}
	if res.Data.ImageSize != 0x2080 {
		t.Errorf("ImageSize = %#x, want 0x2080 (the end of .data)", res.Data.ImageSize)
	}
	tab, err := symbols.New(res.Data)
	if err != nil {
		t.Fatal(err)
	}
	if name, off, err := tab.Nearest(0x207f); err != nil || name != "Fn" || off != 0x207f-0x1004 {
		t.Errorf("Nearest(last byte) = %q+%#x, %v; want Fn", name, off, err)
	}
	for _, rva := range []uint64{0x2080, 0x5000000, 1 << 40} {
		name, _, err := tab.Nearest(rva)
		if !errors.Is(err, symbols.ErrSymbolNotFound) {
			t.Errorf("Nearest(%#x) = %q, %v; want ErrSymbolNotFound", rva, name, err)
		}
		if got := symbols.Describe("mini", tab, rva); got == "mini!Fn" || len(got) > 4 && got[:7] == "mini!Fn" {
			t.Errorf("Describe(%#x) = %q, named after the last symbol", rva, got)
		}
	}
}
