package nt

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/store"
)

// The tests named TestRealISF* build synthetic guest memory laid out by a
// real Windows 10 kernel's symbols (the ISF in ../shared/testdata/isf,
// build 19041) and read it through nt. They cover what mini-NT never
// builds (optional object headers, named objects in the object namespace,
// level-2 handle tables, VADs above 16 TiB, the KVA-shadow DTB, attached
// threads, ...), on the offsets and bit positions a real guest has. The
// guest builder is fake_test.go's: it writes through whatever symbols it
// is given.

var realISFPath = filepath.Join("..", "..", "shared", "testdata", "isf", "606FF669409B00F7FC8C61A9C1670129-1.json.xz")

// realISF loads the table once per test binary: it is a 6 MB JSON file.
var realISF = sync.OnceValues(func() (*symbols.Table, error) {
	if _, err := os.Stat(realISFPath); err != nil {
		return nil, err
	}
	return store.OpenFile(realISFPath)
})

func realISFTable(t testing.TB) *symbols.Table {
	t.Helper()
	tab, err := realISF()
	if os.IsNotExist(err) {
		unavailable(t, "the real Windows 10 ISF is not beside the checkout: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// realGlobals are the kernel globals the real-layout tests touch, with
// the type that sits there (its size is mapped), or "" for a pointer.
var realGlobals = map[string]string{
	"PsActiveProcessHead":    "_LIST_ENTRY",
	"PsLoadedModuleList":     "_LIST_ENTRY",
	"PsInitialSystemProcess": "",
	"ObHeaderCookie":         "",
	"ObpKernelHandleTable":   "",
	"MiSystemPartition":      "_MI_PARTITION",
	"MiState":                "_MI_SYSTEM_INFORMATION",
}

// newRealGuest is a guest laid out by the real ISF: the kernel image's
// globals mapped (zero), the process and module lists empty.
func newRealGuest(t *testing.T) *guest {
	g := &guest{t: t, tab: realISFTable(t), mem: newFakeMemory(), next: 0xffffa00000010000}
	for name, typ := range realGlobals {
		n := uint64(8)
		if typ != "" {
			var err error
			if n, err = g.tab.Size(typ); err != nil {
				t.Fatal(err)
			}
		}
		g.mem.write(g.global(name), make([]byte, n))
	}
	// ObTypeIndexTable: 256 type pointers; ObpInfoMaskToOffset: 256
	// offsets, filled by the tests that need it.
	g.mem.write(g.global("ObTypeIndexTable"), make([]byte, 8*256))
	g.mem.write(g.global("ObpInfoMaskToOffset"), make([]byte, 256))
	g.initList(g.global("PsActiveProcessHead"))
	g.initList(g.global("PsLoadedModuleList"))
	return g
}
