package nttest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/store"
)

// The real Windows 10 (build 19041) ISF lives beside the checkout, in
// ../shared/testdata/isf, never in the repository.
const realISFName = "606FF669409B00F7FC8C61A9C1670129-1.json.xz"

var realISF = sync.OnceValues(func() (*symbols.Table, error) {
	path, err := realISFPath()
	if err != nil {
		return nil, err
	}
	return store.OpenFile(path)
})

func realISFPath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(d, "..", "shared", "testdata", "isf", realISFName)
			if _, err := os.Stat(p); err != nil {
				return "", errMissing{err}
			}
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", errMissing{fmt.Errorf("no go.mod above %s", dir)}
		}
	}
}

type errMissing struct{ error }

// RealISF returns the real Windows 10 kernel's symbols, loaded once per
// test binary. When the file is not beside the checkout the test skips,
// or fails under FROST_REQUIRE_INTEGRATION (as make test sets it).
func RealISF(tb testing.TB) *symbols.Table {
	tb.Helper()
	tab, err := realISF()
	if _, ok := err.(errMissing); ok {
		if os.Getenv("FROST_REQUIRE_INTEGRATION") != "" {
			tb.Fatalf("FROST_REQUIRE_INTEGRATION is set, but the real ISF is missing: %v", err)
		}
		tb.Skipf("skipping: the real Windows 10 ISF is not beside the checkout: %v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return tab
}
