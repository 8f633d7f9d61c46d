package nt

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
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
	"ObpRootDirectoryObject": "",
	"MiSystemPartition":      "_MI_PARTITION",
	"MiState":                "_MI_SYSTEM_INFORMATION",
}

// newRealGuest is a guest laid out by the real ISF: the kernel image's
// globals mapped (zero), the process and module lists empty.
func newRealGuest(t testing.TB) *guest {
	return newGuestOn(t, realISFTable(t))
}

// newGuestOn is newRealGuest on a table derived from the real one
// (realISFWith).
func newGuestOn(t testing.TB, tab *symbols.Table) *guest {
	g := &guest{t: t, tab: tab, mem: newFakeMemory(), next: 0xffffa00000010000}
	for name, typ := range realGlobals {
		if _, err := g.tab.Address(name); err != nil {
			continue // a build without it (realISFWith)
		}
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

// realISFWith is the real table with kernel globals dropped or added, and
// members dropped from types: an older build's symbols (no ObHeaderCookie
// before Windows 10, MmPagingFile before MiSystemPartition) on Windows
// 10's types, to reach the code paths for those builds. The real table is
// shared and left as it is.
func realISFWith(t testing.TB, drop []string, add map[string]uint64, dropMembers map[string][]string) *symbols.Table {
	t.Helper()
	d := *realISFTable(t).Data()
	d.Symbols = maps.Clone(d.Symbols)
	for _, name := range drop {
		if _, ok := d.Symbols[name]; !ok {
			t.Fatalf("the real ISF has no %s to drop", name)
		}
		delete(d.Symbols, name)
	}
	for name, rva := range add {
		d.Symbols[name] = symbols.Symbol{Address: rva}
	}
	d.UserTypes = maps.Clone(d.UserTypes)
	for typ, members := range dropMembers {
		ut := *d.UserTypes[typ]
		n := len(ut.Fields)
		ut.Fields = slices.DeleteFunc(slices.Clone(ut.Fields), func(m symbols.Member) bool { return slices.Contains(members, m.Name) })
		if len(ut.Fields) != n-len(members) {
			t.Fatalf("%s lacks some of %v", typ, members)
		}
		d.UserTypes[typ] = &ut
	}
	tab, err := symbols.New(&d)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}
