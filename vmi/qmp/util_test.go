package qmp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// readTestdata reads a file captured from a real QEMU 7.2 run of mini-NT
// (see testdata/README.md).
func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
