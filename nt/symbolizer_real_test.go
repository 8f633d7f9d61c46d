package nt

import (
	"bytes"
	"context"
	dpe "debug/pe"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostvmi/frost/integration/guesttest"
	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/pdb"
)

// mapImage lays the PE file at path out at base as the loader maps it:
// headers, each section's file bytes at its RVA, zeros to SizeOfImage.
func (g *guest) mapImage(path string, base uint64) UserModule {
	g.t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		g.t.Fatal(err)
	}
	f, err := dpe.NewFile(bytes.NewReader(raw))
	if err != nil {
		g.t.Fatalf("%s: %v", path, err)
	}
	oh, ok := f.OptionalHeader.(*dpe.OptionalHeader64)
	if !ok {
		g.t.Fatalf("%s: not PE32+", path)
	}
	img := make([]byte, oh.SizeOfImage)
	copy(img, raw[:oh.SizeOfHeaders])
	for _, s := range f.Sections {
		data, err := s.Data()
		if err != nil {
			g.t.Fatal(err)
		}
		copy(img[s.VirtualAddress:], data[:min(len(data), int(max(s.VirtualSize, s.Size)))])
	}
	g.mem.write(base, img)
	name := filepath.Base(path)
	return UserModule{Base: base, Size: uint64(oh.SizeOfImage), Name: name, FullName: `C:\Windows\System32\` + name}
}

// storeOf is a symbol store holding the guest's PDBs by identity.
type storeOf map[symbols.Identity]string

func (s storeOf) Load(ctx context.Context, id symbols.Identity) (*symbols.Table, string, error) {
	path, ok := s[id]
	if !ok {
		return nil, "", errors.New("test store: no such PDB")
	}
	t, err := pdb.Open(path)
	return t, path, err
}

// TestRealISFSymbolizer: a process laid out on Windows 10's layout with
// mini-NT's real images (clang and lld-link built, with their PDBs)
// mapped at its loader entries' bases. With the PDBs in the store, names
// come from them, private functions included; without, the same
// exported names come from the export tables in memory at the same
// addresses, and a private one is not found, saying why for both.
func TestRealISFSymbolizer(t *testing.T) {
	out := guesttest.Dir(t)
	g := newRealGuest(t)
	mods := []UserModule{
		g.mapImage(filepath.Join(out, "writer.exe"), 0x140000000),
		g.mapImage(filepath.Join(out, "ntdll.dll"), 0x7ffb40000000),
		g.mapImage(filepath.Join(out, "frostrt.dll"), 0x7ffb30000000),
	}
	ep, _, _ := g.userProcess(mods)
	k := g.kernel()
	p, err := k.ProcessAt(ep)
	if err != nil {
		t.Fatal(err)
	}
	rva := func(pdbFile, name string) uint64 {
		tab, err := pdb.Open(filepath.Join(out, pdbFile))
		if err != nil {
			t.Fatal(err)
		}
		a, err := tab.Address(name)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	store := storeOf{}
	for _, f := range []string{"writer.pdb", "ntdll.pdb", "frostrt.pdb"} {
		tab, err := pdb.Open(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		store[tab.Identity()] = filepath.Join(out, f)
	}
	ctx := context.Background()

	withPDB := NewSymbolizer(k, store)
	private := mods[2].Base + rva("frostrt.pdb", "FrostIssueWrite")
	sym, err := withPDB.Resolve(ctx, p.DTB, &p, "frostrt", "FrostIssueWrite")
	if err != nil || sym.Addr != private || sym.Source != SourcePDB || sym.PDB.PDBName != "frostrt.pdb" {
		t.Errorf("Resolve(frostrt!FrostIssueWrite) with PDBs = %+v, %v; want %#x from frostrt.pdb", sym, err, private)
	}
	if got, err := withPDB.Lookup(ctx, p.DTB, &p, private+5); err != nil || got.String() != "frostrt!FrostIssueWrite+0x5" || got.Source != SourcePDB {
		t.Errorf("Lookup(%#x) = %q from %v, %v", private+5, got, got.Source, err)
	}
	entry := mods[0].Base + rva("writer.pdb", "NtProcessStartup")
	if got, err := withPDB.Resolve(ctx, p.DTB, &p, "writer.exe", "NtProcessStartup"); err != nil || got.Addr != entry {
		t.Errorf("Resolve(writer.exe!NtProcessStartup) = %+v, %v; want %#x", got, err, entry)
	}

	exportsOnly := NewSymbolizer(k, storeOf{})
	exported := mods[1].Base + rva("ntdll.pdb", "NtWriteFile")
	sym, err = exportsOnly.Resolve(ctx, p.DTB, &p, "NTDLL", "NtWriteFile")
	if err != nil || sym.Addr != exported || sym.Source != SourceExports || sym.NoPDB == nil {
		t.Errorf("Resolve(ntdll!NtWriteFile) from exports = %+v, %v; want %#x from the export table, saying why not the PDB", sym, err, exported)
	}
	if got, err := exportsOnly.Lookup(ctx, p.DTB, &p, exported+2); err != nil || got.String() != "ntdll!NtWriteFile+0x2" || got.Source != SourceExports {
		t.Errorf("Lookup(%#x) from exports = %q from %v, %v", exported+2, got, got.Source, err)
	}
	// frostrt's entry point is not exported; writer.exe exports nothing.
	_, err = exportsOnly.Resolve(ctx, p.DTB, &p, "frostrt", "FrostRuntimeEntry")
	var nf *SymbolNotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, ErrSymbolNotFound) || nf.PDB == nil || !strings.Contains(nf.Exports.Error(), "not exported") {
		t.Errorf("Resolve of a private function without its PDB = %v, want not found by either, each saying why", err)
	}
	_, err = exportsOnly.Resolve(ctx, p.DTB, &p, "writer", "NtProcessStartup")
	if !errors.As(err, &nf) || nf.PDB == nil || nf.Exports == nil {
		t.Errorf("Resolve in an image without exports or PDB = %v, want not found, each saying why", err)
	}
	if _, err := exportsOnly.Resolve(ctx, p.DTB, &p, "kernel32", "CreateFileW"); !errors.Is(err, ErrModuleNotFound) {
		t.Errorf("Resolve in a module the process lacks = %v, want ErrModuleNotFound", err)
	}
	// Outside every module: named by its address, not an error.
	if got, err := exportsOnly.Lookup(ctx, p.DTB, &p, 0x10000); err != nil || got.InModule() || got.String() != "0x10000" {
		t.Errorf("Lookup(0x10000) = %q (in module %v), %v", got, got.InModule(), err)
	}
}
