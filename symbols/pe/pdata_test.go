package pe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/frostvmi/frost/symbols/internal/testenv"
)

// readobjUnwind is llvm-readobj's list of path's RUNTIME_FUNCTIONs, as
// RVAs.
func readobjUnwind(t *testing.T, path string, imageBase uint64) []RuntimeFunction {
	t.Helper()
	testenv.RequireTools(t, "llvm-readobj")
	out := string(testenv.Run(t, "", "llvm-readobj", "--unwind", path))
	re := regexp.MustCompile(`StartAddress: .*\(0x([0-9A-Fa-f]+)\)\s*EndAddress: .*\(0x([0-9A-Fa-f]+)\)\s*UnwindInfoAddress: .*\(0x([0-9A-Fa-f]+)\)`)
	var list []RuntimeFunction
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		var v [3]uint32
		for i := range v {
			va, _ := strconv.ParseUint(m[i+1], 16, 64)
			v[i] = uint32(va - imageBase)
		}
		list = append(list, RuntimeFunction{v[0], v[1], v[2]})
	}
	if n := regexp.MustCompile(`RuntimeFunction \{`).FindAllStringIndex(out, -1); len(n) != len(list) {
		t.Fatalf("parsed %d of %d functions of llvm-readobj", len(list), len(n))
	}
	return list
}

// TestRuntimeFunctionsGuest: each mini-NT image's .pdata read from memory
// is llvm-readobj's reading of the file, and the raw .pdata section's
// bytes; every function's range finds itself.
func TestRuntimeFunctionsGuest(t *testing.T) {
	for path, base := range guestImages(t) {
		name := filepath.Base(path)
		l := loadFile(t, path, base)
		h, err := MappedHeaders(l.g, base)
		if err != nil {
			t.Fatal(err)
		}
		table, err := h.RuntimeFunctions(l.g)
		if _, ok := h.Directory(DirException); !ok {
			if !errors.Is(err, ErrNoDirectory) {
				t.Errorf("%s has no .pdata: %v", name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want := readobjUnwind(t, path, h.ImageBase); fmt.Sprint(table) != fmt.Sprint(want) {
			t.Errorf("%s: .pdata\n%v\nllvm-readobj\n%v", name, table, want)
		}
		var raw []RuntimeFunction
		for _, s := range l.f.Sections {
			if s.Name != ".pdata" {
				continue
			}
			data, err := s.Data()
			if err != nil {
				t.Fatal(err)
			}
			for b := data[:s.VirtualSize]; len(b) >= 12; b = b[12:] {
				le := binary.LittleEndian
				raw = append(raw, RuntimeFunction{le.Uint32(b), le.Uint32(b[4:]), le.Uint32(b[8:])})
			}
		}
		if fmt.Sprint(table) != fmt.Sprint(raw) {
			t.Errorf("%s: %d functions, .pdata section has %d", name, len(table), len(raw))
		}
		for _, f := range table {
			for _, rva := range []uint32{f.Begin, f.End - 1, (f.Begin + f.End) / 2} {
				if got, ok := FunctionAt(table, rva); !ok || got != f {
					t.Errorf("%s: FunctionAt(%#x) = %+v, %v; want %+v", name, rva, got, ok, f)
				}
			}
		}
	}
}

// TestFunctionAt: gaps, edges and an empty table.
func TestFunctionAt(t *testing.T) {
	table := []RuntimeFunction{{0x1000, 0x1010, 1}, {0x1010, 0x1020, 2}, {0x1030, 0x1040, 3}}
	for rva, want := range map[uint32]uint32{
		0: 0, 0xfff: 0, 0x1000: 1, 0x100f: 1, 0x1010: 2, 0x101f: 2, 0x1020: 0, 0x102f: 0, 0x1030: 3, 0x103f: 3, 0x1040: 0, 0xffffffff: 0,
	} {
		f, ok := FunctionAt(table, rva)
		if ok != (want != 0) || f.UnwindData != want {
			t.Errorf("FunctionAt(%#x) = %+v, %v; want unwind %d", rva, f, ok, want)
		}
	}
	if _, ok := FunctionAt(nil, 0x1000); ok {
		t.Error("found a function in an empty table")
	}
}

// TestRuntimeFunctionsMalformed: bad entries are skipped, counted in a
// SkippedError that comes with the valid rest, sorted; a directory that
// is wrong as a whole is an error and no table.
func TestRuntimeFunctionsMalformed(t *testing.T) {
	entry := func(b []byte, i int, f RuntimeFunction) {
		put32(b, synthPdata+12*i, f.Begin)
		put32(b, synthPdata+12*i+4, f.End)
		put32(b, synthPdata+12*i+8, f.UnwindData)
	}
	good := []RuntimeFunction{{0x1000, 0x1010, synthUnwind}, {0x1010, 0x1020, synthUnwind + 8}, {0x1020, 0x1040, synthUnwind + 16}}
	for name, c := range map[string]struct {
		mutate  func(b []byte)
		skipped int
		want    []RuntimeFunction
	}{
		"unsorted":          {func(b []byte) { entry(b, 0, good[2]); entry(b, 2, good[0]) }, 0, good},
		"empty":             {func(b []byte) { entry(b, 1, RuntimeFunction{0x1010, 0x1010, synthUnwind}) }, 1, []RuntimeFunction{good[0], good[2]}},
		"reversed":          {func(b []byte) { entry(b, 1, RuntimeFunction{0x1020, 0x1010, synthUnwind}) }, 1, []RuntimeFunction{good[0], good[2]}},
		"zeros":             {func(b []byte) { entry(b, 0, RuntimeFunction{}) }, 1, good[1:]},
		"end past image":    {func(b []byte) { entry(b, 2, RuntimeFunction{0x1020, synthSize + 1, synthUnwind}) }, 1, good[:2]},
		"unwind past image": {func(b []byte) { entry(b, 2, RuntimeFunction{0x1020, 0x1040, 0xfffffff0}) }, 1, good[:2]},
		"overlap":           {func(b []byte) { entry(b, 1, RuntimeFunction{0x1008, 0x1018, synthUnwind}) }, 1, []RuntimeFunction{good[0], good[2]}},
		"duplicate":         {func(b []byte) { entry(b, 1, good[0]) }, 1, []RuntimeFunction{good[0], good[2]}},
		"all bad": {func(b []byte) {
			for i := 0; i < 3; i++ {
				entry(b, i, RuntimeFunction{})
			}
		}, 3, []RuntimeFunction{}},
		"size not a multiple": {func(b []byte) { put32(b, synthDirs+8*DirException+4, 3*12+5) }, 0, good},
		"chained unwind":      {func(b []byte) { entry(b, 2, RuntimeFunction{0x1020, 0x1040, synthPdata + 1}) }, 0, append(good[:2:2], RuntimeFunction{0x1020, 0x1040, synthPdata + 1})},
	} {
		g := synthMemory(c.mutate)
		h, err := MappedHeaders(g, g.base)
		if err != nil {
			t.Fatal(err)
		}
		table, err := h.RuntimeFunctions(g)
		var se *SkippedError
		if c.skipped == 0 && err != nil || c.skipped != 0 && (!errors.As(err, &se) || se.Skipped != c.skipped || se.Total != 3 ||
			!errors.Is(err, ErrFormat) || !IsSkipped(err)) {
			t.Errorf("%s: %v; want %d skipped", name, err, c.skipped)
		}
		if fmt.Sprint(table) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", name, table, c.want)
		}
	}
	for name, c := range map[string]struct {
		mutate func(b []byte)
		is     error
	}{
		"none":       {func(b []byte) { put32(b, synthDirs+8*DirException+4, 0) }, ErrNoDirectory},
		"few dirs":   {func(b []byte) { put32(b, synthOpt+108, 3) }, ErrNoDirectory},
		"tiny":       {func(b []byte) { put32(b, synthDirs+8*DirException+4, 11) }, ErrFormat},
		"huge":       {func(b []byte) { put32(b, synthDirs+8*DirException+4, MaxPdata+12) }, ErrFormat},
		"past image": {func(b []byte) { put32(b, synthDirs+8*DirException, synthSize-12) }, ErrFormat},
		"wraps":      {func(b []byte) { put32(b, synthDirs+8*DirException, 0xfffffff8) }, ErrFormat},
	} {
		g := synthMemory(c.mutate)
		h, err := MappedHeaders(g, g.base)
		if err != nil {
			t.Fatal(err)
		}
		if table, err := h.RuntimeFunctions(g); !errors.Is(err, c.is) || table != nil || IsSkipped(err) {
			t.Errorf("%s: %v, %v; want %v", name, table, err, c.is)
		}
	}
}

// TestRuntimeFunctionsUnreadable: a page of the table that cannot be read
// is named, and no table comes back.
func TestRuntimeFunctionsUnreadable(t *testing.T) {
	g := synthMemory(nil)
	h, err := MappedHeaders(g, g.base)
	if err != nil {
		t.Fatal(err)
	}
	page := g.base + synthPdata&^(PageSize-1)
	g.missing[page] = true
	table, err := h.RuntimeFunctions(g)
	var ue *UnreadableError
	if !errors.As(err, &ue) || table != nil || ue.What != "exception directory" || fmt.Sprint(ue.Pages) != fmt.Sprint([]uint64{page}) {
		t.Errorf("%v, %v", table, err)
	}
}
