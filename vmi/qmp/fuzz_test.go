package qmp

import "testing"

// FuzzParseMemoryTree feeds arbitrary monitor text to the parser. The
// seed corpus (testdata/fuzz/FuzzParseMemoryTree) holds the real QEMU
// 7.2 outputs and malformed variants of them. Whatever the input, the
// parser must return an error or a map that keeps its invariants, never
// panic: the monitor is QEMU's, but Frost does not trust text it parses.
func FuzzParseMemoryTree(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		views, err := ParseMemoryTree(text)
		if err != nil {
			return
		}
		if len(views) == 0 {
			t.Fatal("no error and no views")
		}
		for _, v := range views {
			for i, r := range v.Ranges {
				if r.Last < r.Start {
					t.Fatalf("range %+v ends before it starts", r)
				}
				if i > 0 && r.Start <= v.Ranges[i-1].Last {
					t.Fatalf("ranges %+v and %+v overlap", v.Ranges[i-1], r)
				}
				if got, ok := v.Lookup(r.Start); !ok || got.Start != r.Start {
					t.Fatalf("Lookup(%#x) = %+v, %v", r.Start, got, ok)
				}
				if got, ok := v.Lookup(r.Last); !ok || got.Start != r.Start {
					t.Fatalf("Lookup(%#x) = %+v, %v", r.Last, got, ok)
				}
			}
		}
		SystemView(views)
	})
}

// FuzzParseRAMBlocks does the same for `info ramblock`.
func FuzzParseRAMBlocks(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		blocks, err := ParseRAMBlocks(text)
		if err != nil {
			return
		}
		for _, b := range blocks {
			if b.Used > b.Total {
				t.Fatalf("block %+v uses more than it has", b)
			}
		}
	})
}
