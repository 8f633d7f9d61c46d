package isf

import (
	"bytes"
	"os"
	"testing"

	"github.com/frostvmi/frost/symbols/internal/testenv"
)

// BenchmarkLoadRealISF loads the real Windows 10 kernel ISF from its
// compressed bytes: xz, parsing and indexing.
func BenchmarkLoadRealISF(b *testing.B) {
	raw, err := os.ReadFile(testenv.RealISF(b))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecompressRealISF is the xz part of the load alone.
func BenchmarkDecompressRealISF(b *testing.B) {
	raw, err := os.ReadFile(testenv.RealISF(b))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := readText(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRealISF is the JSON-to-model part alone.
func BenchmarkParseRealISF(b *testing.B) {
	raw, err := os.ReadFile(testenv.RealISF(b))
	if err != nil {
		b.Fatal(err)
	}
	text, err := readText(bytes.NewReader(raw))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := parse(text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFieldPathsRealISF resolves the paths of issue 4's checks on
// the real kernel's table.
func BenchmarkFieldPathsRealISF(b *testing.B) {
	tab, err := Open(testenv.RealISF(b))
	if err != nil {
		b.Fatal(err)
	}
	paths := make([]string, 0, len(realFields))
	for p := range realFields {
		paths = append(paths, p)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := tab.Field(paths[i%len(paths)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
