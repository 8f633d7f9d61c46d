package isf

import (
	"bytes"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/internal/testenv"
	"github.com/ulikunitz/xz"
)

// FuzzISF feeds arbitrary files, plain and xz, to the reader. What it
// accepts must index, answer lookups and write back to the same answers'
// source; what it refuses must be an error. Reading must allocate at most
// 16 bytes per byte of JSON, plus the xz dictionary and 1 MiB.
func FuzzISF(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(`{"metadata":{"format":"6.0.0"},"base_types":{},"user_types":{},"enums":{},"symbols":{}}`))
	var buf bytes.Buffer
	if w, err := xz.NewWriter(&buf); err == nil {
		w.Write([]byte(minimal))
		w.Close()
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		before := testenv.HeapAllocated()
		d, err := ReadData(bytes.NewReader(data))
		used := testenv.HeapAllocated() - before
		text, terr := readText(bytes.NewReader(data))
		if terr == nil {
			if limit := 16*uint64(len(text)) + uint64(len(data)) + 8<<20 + 1<<20; used > limit {
				t.Fatalf("%d bytes (%d of JSON) allocated %d bytes, over %d", len(data), len(text), used, limit)
			}
		}
		if err != nil {
			return
		}
		tab, err := symbols.New(d)
		if err != nil {
			t.Fatalf("New refused what ReadData produced: %v", err)
		}
		n := 0
		for name, ut := range d.UserTypes {
			tab.Size(name)
			for _, m := range ut.Fields {
				tab.Field(name + "." + m.Name)
				tab.Field(name + "." + m.Name + "[1].x")
				if n++; n > 200 {
					break
				}
			}
		}
		for name, s := range d.Symbols {
			tab.Address(name)
			tab.Nearest(s.Address)
		}
		// What was read writes, and reads back to the same model size.
		var out bytes.Buffer
		if err := Write(&out, d); err != nil {
			t.Fatalf("Write refused what ReadData produced: %v", err)
		}
		back, err := ReadData(&out)
		if err != nil {
			t.Fatalf("a written ISF does not read back: %v\n%s", err, out.Bytes())
		}
		if len(back.UserTypes) != len(d.UserTypes) || len(back.Symbols) != len(d.Symbols) || len(back.Enums) != len(d.Enums) || back.ID != d.ID {
			t.Fatalf("round trip changed the model: %d/%d types, %d/%d symbols", len(back.UserTypes), len(d.UserTypes), len(back.Symbols), len(d.Symbols))
		}
	})
}
