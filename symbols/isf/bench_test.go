package isf

import (
	"bytes"
	"os"
	"testing"

	"github.com/frostvmi/frost/symbols/internal/testenv"
)

func BenchmarkLoadRealISF(b *testing.B) {
	raw, err := os.ReadFile(testenv.RealISF(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkXZOnly(b *testing.B) {
	raw, _ := os.ReadFile(testenv.RealISF(b))
	for b.Loop() {
		readText(bytes.NewReader(raw))
	}
}

func BenchmarkJSONOnly(b *testing.B) {
	raw, _ := os.ReadFile(testenv.RealISF(b))
	text, _ := readText(bytes.NewReader(raw))
	for b.Loop() {
		parse(text)
	}
}
