package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/internal/testenv"
)

// realISFID is the identity of the real Windows 10 ISF in
// ../shared/testdata/isf (its README).
func realISFID(t *testing.T) symbols.Identity {
	return symbols.Identity{GUID: guid(t, "606FF669409B00F7FC8C61A9C1670129"), Age: 1, PDBName: "ntkrnlmp.pdb"}
}

// volatilityRoot lays out a Volatility 3 symbols directory holding the
// real ISF (a link to it, read in place) and returns its root:
// <root>/windows/ntkrnlmp.pdb/<GUID>-<AGE>.json.xz.
func volatilityRoot(t *testing.T) string {
	real, err := filepath.Abs(testenv.RealISF(t))
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "symbols")
	p := filepath.Join(root, "windows", filepath.FromSlash(ISFPath(realISFID(t), ".json.xz")))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, p); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestVolatilitySymbolsRoot: a symbol path naming Volatility's symbols
// root finds the ISF under windows/, as one naming symbols/windows does,
// whether the directory is a plain entry, a srv* local store or a cache.
func TestVolatilitySymbolsRoot(t *testing.T) {
	root := volatilityRoot(t)
	want := realISFID(t)
	file := filepath.Join(root, "windows", filepath.FromSlash(ISFPath(want, ".json.xz")))
	for _, path := range []string{
		root,
		filepath.Join(root, "windows"),
		"srv*" + root,
		"cache*" + root,
		"srv*" + root + "*http://127.0.0.1:1/unused", // found in the cache: no download
	} {
		st, err := New(path, "")
		if err != nil {
			t.Fatal(err)
		}
		st.Offline = true
		tab, got, err := st.Load(context.Background(), want)
		if err != nil {
			t.Errorf("symbol path %s: %v", path, err)
			continue
		}
		if got != file || tab.Identity() != want {
			t.Errorf("symbol path %s: %s from %s, want %s from %s", path, tab.Identity(), got, want, file)
		}
		if _, err := tab.Address("NtWriteFile"); err != nil {
			t.Errorf("symbol path %s: NtWriteFile: %v", path, err)
		}
	}
}

// TestVolatilityRootOnServer: a server laid out as a Volatility symbols
// root (a mirror of one, such as a repository of ISF tables) serves the
// ISF under windows/; it is cached under the same layout and found there
// next time without a request.
func TestVolatilityRootOnServer(t *testing.T) {
	want := id(t, guidA, 3)
	srv := newServer(t, map[string][]byte{"/windows/" + ISFPath(want, ".json.xz"): miniISF(t, guidA, 3, true)})
	cache := t.TempDir()
	st, err := New("srv*"+cache+"*"+srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	_, p, err := st.Load(context.Background(), want)
	if err != nil {
		t.Fatal(err)
	}
	if wantP := filepath.Join(cache, "windows", filepath.FromSlash(ISFPath(want, ".json.xz"))); p != wantP {
		t.Errorf("stored at %s, want %s", p, wantP)
	}
	n := len(srv.requests())
	if _, p2, err := st.Load(context.Background(), want); err != nil || p2 != p {
		t.Errorf("cache hit: %s, %v", p2, err)
	}
	if len(srv.requests()) != n {
		t.Errorf("the cache hit went to the server: %v", srv.requests()[n:])
	}
	noTemps(t, cache)
}
