package pe

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/frostvmi/frost/symbols/internal/testenv"
)

// readobjExports is llvm-readobj's list of path's exports, without the
// empty slots (RVA 0), with forwarders from llvm-objdump.
func readobjExports(t *testing.T, path string) []Export {
	t.Helper()
	testenv.RequireTools(t, "llvm-readobj", "llvm-objdump")
	out := string(testenv.Run(t, "", "llvm-readobj", "--coff-exports", path))
	re := regexp.MustCompile(`Export \{\s*Ordinal: (\d+)\s*Name: ?(\S*)\s*RVA: 0x([0-9A-Fa-f]+)\s*\}`)
	var list []Export
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		ord, _ := strconv.ParseUint(m[1], 10, 32)
		rva, _ := strconv.ParseUint(m[3], 16, 32)
		if rva != 0 {
			list = append(list, Export{Name: m[2], Ordinal: uint32(ord), RVA: uint32(rva)})
		}
	}
	if n := strings.Count(out, "Export {"); n != len(re.FindAllString(out, -1)) {
		t.Fatalf("parsed %d of %d exports of llvm-readobj:\n%s", len(re.FindAllString(out, -1)), n, out)
	}
	fwd := map[string]string{}
	dump := string(testenv.Run(t, "", "llvm-objdump", "-p", path))
	for _, m := range regexp.MustCompile(`(\S+) \(forwarded to (\S+)\)`).FindAllStringSubmatch(dump, -1) {
		fwd[m[1]] = m[2]
	}
	for i := range list {
		list[i].Forwarder = fwd[list[i].Name]
	}
	return list
}

// checkExports compares Exports over the mapped image with llvm-readobj.
func checkExports(t *testing.T, l *loaded) *Exports {
	t.Helper()
	name := filepath.Base(l.path)
	h, err := MappedHeaders(l.g, l.g.base)
	if err != nil {
		t.Fatal(err)
	}
	x, err := h.Exports(l.g)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if x.Skipped != 0 || x.Err() != nil || x.Incomplete {
		t.Errorf("%s: %d skipped: %v", name, x.Skipped, x.Err())
	}
	want := readobjExports(t, l.path)
	if fmt.Sprint(x.List) != fmt.Sprint(want) {
		t.Errorf("%s: exports\n%v\nllvm-readobj\n%v", name, x.List, want)
	}
	for _, e := range want {
		if e.Name == "" {
			continue
		}
		if got, ok := x.ByName(e.Name); !ok || got != e {
			t.Errorf("%s: ByName(%q) = %+v, %v", name, e.Name, got, ok)
		}
	}
	return x
}

// TestExportsGuest: the export tables of mini-NT's DLLs, read from their
// mapped images, are what llvm-readobj reads from the files.
func TestExportsGuest(t *testing.T) {
	for path, base := range guestImages(t) {
		l := loadFile(t, path, base)
		h, err := MappedHeaders(l.g, base)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := h.Directory(DirExport); !ok {
			if _, err := h.Exports(l.g); !errors.Is(err, ErrNoDirectory) {
				t.Errorf("%s has no exports: %v", filepath.Base(path), err)
			}
			continue
		}
		x := checkExports(t, l)
		if want := filepath.Base(path); x.DLLName != want {
			t.Errorf("%s: DLL name %q", want, x.DLLName)
		}
		if filepath.Base(path) == "ntdll.dll" {
			e, ok := x.ByName("NtWriteFile")
			if !ok || e.Forwarder != "" {
				t.Fatalf("NtWriteFile: %+v, %v", e, ok)
			}
			// Every address in the stub resolves to it, at its offset.
			for off := uint32(0); off < 4; off++ {
				if got, o, ok := x.Nearest(e.RVA + off); !ok || got.Name != "NtWriteFile" || o != off {
					t.Errorf("Nearest(%#x) = %+v+%#x, %v", e.RVA+off, got, o, ok)
				}
			}
		}
	}
}

// TestExportsBuilt: a DLL with aliases, an export by ordinal only, data
// and forwarders, built from testdata/exports.{c,def}.
func TestExportsBuilt(t *testing.T) {
	testenv.RequireTools(t, "clang", "lld-link")
	dir := t.TempDir()
	src, err := filepath.Abs(filepath.Join("testdata", "exports.c"))
	if err != nil {
		t.Fatal(err)
	}
	def, _ := filepath.Abs(filepath.Join("testdata", "exports.def"))
	obj, dll := filepath.Join(dir, "exports.obj"), filepath.Join(dir, "frostexp.dll")
	testenv.Run(t, dir, "clang", "--target=x86_64-pc-windows-msvc", "-O1", "-c", "-o", obj, src)
	testenv.Run(t, dir, "lld-link", "/dll", "/def:"+def, "/out:"+dll, "/entry:Entry", "/subsystem:native", "/nodefaultlib", obj)
	l := loadFile(t, dll, 0x7ffe00000000)
	x := checkExports(t, l)
	fwd, ok := x.ByName("Forwarded")
	if !ok || fwd.Forwarder != "ntdll.NtClose" {
		t.Errorf("Forwarded: %+v", fwd)
	}
	if fwd, ok := x.ByName("ByOrdinalFwd"); !ok || fwd.Forwarder != "ntdll.#3" {
		t.Errorf("ByOrdinalFwd: %+v", fwd)
	}
	var hidden Export
	for _, e := range x.List {
		if e.Ordinal == 9 {
			hidden = e
		}
	}
	if hidden.Name != "" || hidden.RVA == 0 || hidden.Symbol() != "#9" {
		t.Errorf("ordinal 9 (NONAME): %+v", hidden)
	}
	// An address inside Hidden is labelled by ordinal; Alpha's aliases
	// label their address by the lowest name.
	if e, off, ok := x.Nearest(hidden.RVA + 1); !ok || e.Symbol() != "#9" || off != 1 {
		t.Errorf("Nearest in Hidden: %+v+%d, %v", e, off, ok)
	}
	alpha, _ := x.ByName("Alpha")
	if e, off, ok := x.Nearest(alpha.RVA); !ok || e.Name != "Alpha" || off != 0 {
		t.Errorf("Nearest(Alpha) = %+v+%d, %v", e, off, ok)
	}
	// A forwarder's RVA is its string's, not code: Nearest never names it.
	if e, _, ok := x.Nearest(fwd.RVA); ok && e.Forwarder != "" {
		t.Errorf("Nearest(forwarder string) = %+v", e)
	}
}

// TestExportsSynthetic: two names of one ordinal, a forwarder, an
// ordinal without a name, an empty slot, and Nearest's edges.
func TestExportsSynthetic(t *testing.T) {
	g := synthMemory(nil)
	h, err := MappedHeaders(g, g.base)
	if err != nil {
		t.Fatal(err)
	}
	x, err := h.Exports(g)
	if err != nil || x.Skipped != 0 {
		t.Fatalf("%+v, %v", x, err)
	}
	want := []Export{
		{Name: "alpha", Ordinal: 5, RVA: 0x1000},
		{Name: "alpha2", Ordinal: 5, RVA: 0x1000},
		{Name: "beta", Ordinal: 6, RVA: 0x1010},
		{Name: "fwd", Ordinal: 7, RVA: synthFwd, Forwarder: "other.Func"},
		{Ordinal: 8, RVA: 0x1020},
	}
	if fmt.Sprint(x.List) != fmt.Sprint(want) || x.DLLName != "synth.dll" || x.OrdinalBase != 5 {
		t.Errorf("%q %d %v", x.DLLName, x.OrdinalBase, x.List)
	}
	for rva, w := range map[uint32]string{
		0x0fff: "", 0x1000: "alpha+0x0", 0x100f: "alpha+0xf", 0x1010: "beta+0x0",
		0x1020: "#8+0x0", synthFwd: "#8+0x10e0", synthSize - 1: "#8+0x2fdf", synthSize: "",
	} {
		got := ""
		if e, off, ok := x.Nearest(rva); ok {
			got = fmt.Sprintf("%s+%#x", e.Symbol(), off)
		}
		if got != w {
			t.Errorf("Nearest(%#x) = %q, want %q", rva, got, w)
		}
	}
	if _, ok := x.ByName("Alpha"); ok {
		t.Error("ByName is case-insensitive")
	}
}

// TestExportsMalformed: bad entries are skipped and counted; a directory
// that cannot be what it claims is an error; nothing panics.
func TestExportsMalformed(t *testing.T) {
	e := synthExport
	skipped := map[string]struct {
		mutate func(b []byte)
		n      int // entries skipped
		names  []string
	}{
		"name ordinal past table": {func(b []byte) { put16(b, synthOrds+2*2, 9) }, 1, []string{"alpha", "alpha2", "fwd"}},
		"name past image":         {func(b []byte) { put32(b, synthNames, 0xfffffff0) }, 1, []string{"alpha2", "beta", "fwd"}},
		"name without NUL": {func(b []byte) {
			// The last name runs to the end of the image.
			put32(b, synthNames+4*3, synthSize-4)
			copy(b[synthSize-4:], "abcd")
		}, 1, []string{"alpha", "alpha2", "beta"}},
		"name too long": {func(b []byte) {
			for i := 0x2600; i < 0x2600+MaxExportName+1; i++ {
				b[i] = 'x'
			}
			put32(b, synthNames+4*2, 0x2600)
		}, 1, []string{"alpha", "alpha2", "fwd"}}, // beta's entry stays, as #6
		"empty name":          {func(b []byte) { put32(b, synthNames, synthDLLName-1) }, 1, []string{"alpha2", "beta", "fwd"}},
		"code past image":     {func(b []byte) { put32(b, synthFuncs+4, 0x80000000) }, 1, []string{"alpha", "alpha2", "fwd"}},
		"forwarder no dot":    {func(b []byte) { copy(b[synthFwd:], "otherFunc\x00") }, 1, []string{"alpha", "alpha2", "beta"}},
		"forwarder dot first": {func(b []byte) { copy(b[synthFwd:], ".Func\x00") }, 1, []string{"alpha", "alpha2", "beta"}},
		"named empty slot":    {func(b []byte) { put16(b, synthOrds+2*2, 4) }, 1, []string{"alpha", "alpha2", "fwd"}},
		"DLL name past image": {func(b []byte) { put32(b, e+12, 0x7fffffff) }, 0, []string{"alpha", "alpha2", "beta", "fwd"}},
	}
	for name, c := range skipped {
		g := synthMemory(c.mutate)
		h, err := MappedHeaders(g, g.base)
		if err != nil {
			t.Fatal(err)
		}
		x, err := h.Exports(g)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var names []string
		for _, e := range x.List {
			if e.Name != "" {
				names = append(names, e.Name)
			}
		}
		sort.Strings(names)
		if x.Skipped != c.n || !errors.Is(x.Err(), ErrFormat) || fmt.Sprint(names) != fmt.Sprint(c.names) {
			t.Errorf("%s: %d skipped (%v), names %v; want %d, %v", name, x.Skipped, x.Err(), names, c.n, c.names)
		}
	}
	for name, mutate := range map[string]func(b []byte){
		"functions 2^20":    func(b []byte) { put32(b, e+20, 1<<20) },
		"names 2^32-1":      func(b []byte) { put32(b, e+24, 0xffffffff) },
		"table past image":  func(b []byte) { put32(b, e+28, synthSize-8) },
		"names past image":  func(b []byte) { put32(b, e+32, 0xfffffffc) },
		"ordinals wrap":     func(b []byte) { put32(b, e+36, 0xffffffff) },
		"directory small":   func(b []byte) { put32(b, synthDirs+4, 39) },
		"directory outside": func(b []byte) { put32(b, synthDirs, synthSize-0x100) },
		"directory huge":    func(b []byte) { put32(b, synthDirs+4, 0xffffff00) },
	} {
		g := synthMemory(mutate)
		h, err := MappedHeaders(g, g.base)
		if err != nil {
			t.Fatal(err)
		}
		if x, err := h.Exports(g); !errors.Is(err, ErrFormat) || x != nil {
			t.Errorf("%s: %+v, %v; want ErrFormat", name, x, err)
		}
	}
	g := synthMemory(func(b []byte) { put32(b, synthDirs+4, 0) })
	h, _ := MappedHeaders(g, g.base)
	if _, err := h.Exports(g); !errors.Is(err, ErrNoDirectory) {
		t.Errorf("no directory: %v", err)
	}
}

// TestExportsUnreadable: a page of the directory's tables that cannot be
// read is an UnreadableError naming it and no table; a page of names
// gives what could be read, marked incomplete, and the error.
func TestExportsUnreadable(t *testing.T) {
	g := synthMemory(func(b []byte) {
		// The name table on a page of its own, with one name there too.
		copy(b[0x3000:], b[synthNames:synthNames+16])
		put32(b, synthExport+32, 0x3000)
		copy(b[0x3080:], "beta\x00")
		put32(b, 0x3000+4*2, 0x3080)
	})
	h, err := MappedHeaders(g, g.base)
	if err != nil {
		t.Fatal(err)
	}
	if x, err := h.Exports(g); err != nil || len(x.List) != 5 {
		t.Fatalf("moved name table: %+v, %v", x, err)
	}
	page := g.base + 0x3000
	g.missing[page] = true
	_, err = h.Exports(g)
	var ue *UnreadableError
	if !errors.As(err, &ue) || ue.What != "export directory" || fmt.Sprint(ue.Pages) != fmt.Sprint([]uint64{page}) {
		t.Errorf("name table unreadable: %v", err)
	}
	// Only the name's page gone: everything else, and the page named.
	g = synthMemory(func(b []byte) {
		copy(b[0x3080:], "beta\x00")
		put32(b, synthNames+4*2, 0x3080)
	})
	g.missing[page] = true
	x, err := h.Exports(g)
	if !errors.As(err, &ue) || ue.What != "export names" || fmt.Sprint(ue.Pages) != fmt.Sprint([]uint64{page}) {
		t.Errorf("a name unreadable: %v", err)
	}
	if x == nil || !x.Incomplete || x.Skipped != 0 {
		t.Fatalf("a name unreadable: %+v", x)
	}
	// beta's entry stays, by ordinal: its name is what is unknown.
	if _, ok := x.ByName("beta"); ok || len(x.List) != 5 || x.List[2] != (Export{Ordinal: 6, RVA: 0x1010}) {
		t.Errorf("a name unreadable: %v", x.List)
	}
	// The directory's own page.
	g = synthMemory(nil)
	g.missing[g.base+synthExport] = true
	if x, err := h.Exports(g); !errors.As(err, &ue) || x != nil || fmt.Sprint(ue.Pages) != fmt.Sprint([]uint64{g.base + synthExport}) {
		t.Errorf("directory unreadable: %+v, %v", x, err)
	}
}
