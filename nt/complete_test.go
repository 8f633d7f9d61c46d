package nt

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/frostvmi/frost/integration/guesttest"
	"github.com/frostvmi/frost/symbols/pdb"
)

// Complete offers the modules of a process and the kernel, then a
// module's names from its PDB, or from its exports without one; any case,
// sorted, bounded, and an unknown module is an error (a shell offers
// nothing then).
func TestSymbolizerComplete(t *testing.T) {
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
	store := storeOf{}
	for _, f := range []string{"writer.pdb", "ntdll.pdb", "frostrt.pdb"} {
		tab, err := pdb.Open(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		store[tab.Identity()] = filepath.Join(out, f)
	}
	ctx := context.Background()
	s := NewSymbolizer(k, store)

	names, _, err := s.Complete(ctx, p.DTB, &p, "NT", 0)
	if err != nil || !slices.Contains(names, "ntdll!") || !slices.Contains(names, "nt!") {
		t.Errorf("modules starting NT = %q, %v; want ntdll! and nt!", names, err)
	}
	names, _, err = s.Complete(ctx, p.DTB, &p, "frostrt!FrostIssue", 0)
	if err != nil || !slices.Contains(names, "frostrt!FrostIssueWrite") {
		t.Errorf("frostrt!FrostIssue = %q, %v; want the PDB's private FrostIssueWrite", names, err)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "frostrt!FrostIssue") {
			t.Errorf("completion %q does not begin with what was typed", n)
		}
	}
	names, trunc, err := s.Complete(ctx, p.DTB, &p, "ntdll!", 2)
	if err != nil || len(names) != 2 || !trunc || !slices.IsSorted(names) {
		t.Errorf("ntdll! limited to 2 = %q truncated %v, %v", names, trunc, err)
	}

	exportsOnly := NewSymbolizer(k, storeOf{})
	names, _, err = exportsOnly.Complete(ctx, p.DTB, &p, "ntdll!ntwrite", 0)
	if err != nil || !slices.Contains(names, "ntdll!NtWriteFile") {
		t.Errorf("ntdll!ntwrite from exports = %q, %v; want ntdll!NtWriteFile", names, err)
	}
	if _, _, err := exportsOnly.Complete(ctx, p.DTB, &p, "kernel32!Create", 0); !errors.Is(err, ErrModuleNotFound) {
		t.Errorf("a module the process lacks: %v, want ErrModuleNotFound", err)
	}
}
