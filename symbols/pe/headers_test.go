package pe

import (
	dpe "debug/pe"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// checkHeaders compares h with what debug/pe reads from the file.
func checkHeaders(t *testing.T, l *loaded, h *Headers) {
	t.Helper()
	name := filepath.Base(l.path)
	if h.Base != l.g.base || h.Machine != l.f.Machine || h.TimeDateStamp != l.f.TimeDateStamp || h.Characteristics != l.f.Characteristics {
		t.Errorf("%s: base %#x machine %#x time %#x chars %#x; file: %#x %#x %#x", name, h.Base, h.Machine, h.TimeDateStamp,
			h.Characteristics, l.f.Machine, l.f.TimeDateStamp, l.f.Characteristics)
	}
	type opt struct {
		PE32Plus                                            bool
		ImageBase                                           uint64
		SizeOfImage, SizeOfHeaders, SectionAlign, FileAlign uint32
		Entry, CheckSum                                     uint32
		Subsystem, DllChars                                 uint16
		NDirs                                               uint32
	}
	got := opt{h.PE32Plus, h.ImageBase, h.SizeOfImage, h.SizeOfHeaders, h.SectionAlignment, h.FileAlignment,
		h.AddressOfEntryPoint, h.CheckSum, h.Subsystem, h.DllCharacteristics, h.NumberOfRvaAndSizes}
	var want opt
	var dirs []dpe.DataDirectory
	switch oh := l.f.OptionalHeader.(type) {
	case *dpe.OptionalHeader64:
		want = opt{true, oh.ImageBase, oh.SizeOfImage, oh.SizeOfHeaders, oh.SectionAlignment, oh.FileAlignment,
			oh.AddressOfEntryPoint, oh.CheckSum, oh.Subsystem, oh.DllCharacteristics, oh.NumberOfRvaAndSizes}
		dirs = oh.DataDirectory[:oh.NumberOfRvaAndSizes]
	case *dpe.OptionalHeader32:
		want = opt{false, uint64(oh.ImageBase), oh.SizeOfImage, oh.SizeOfHeaders, oh.SectionAlignment, oh.FileAlignment,
			oh.AddressOfEntryPoint, oh.CheckSum, oh.Subsystem, oh.DllCharacteristics, oh.NumberOfRvaAndSizes}
		dirs = oh.DataDirectory[:oh.NumberOfRvaAndSizes]
	}
	if got != want {
		t.Errorf("%s: optional header %+v, file %+v", name, got, want)
	}
	if len(h.Directories) != len(dirs) {
		t.Fatalf("%s: %d directories, file %d", name, len(h.Directories), len(dirs))
	}
	for i, d := range dirs {
		if h.Directories[i] != (DataDirectory{d.VirtualAddress, d.Size}) {
			t.Errorf("%s: directory %d %+v, file %+v", name, i, h.Directories[i], d)
		}
		if got, ok := h.Directory(i); ok != (d.VirtualAddress != 0 && d.Size != 0) || got.RVA != d.VirtualAddress {
			t.Errorf("%s: Directory(%d) = %+v, %v", name, i, got, ok)
		}
	}
	if len(h.Sections) != len(l.f.Sections) {
		t.Fatalf("%s: %d sections, file %d", name, len(h.Sections), len(l.f.Sections))
	}
	for i, s := range l.f.Sections {
		want := Section{Name: s.Name, VirtualAddress: s.VirtualAddress, VirtualSize: s.VirtualSize,
			PointerToRawData: s.Offset, SizeOfRawData: s.Size, Characteristics: s.Characteristics}
		got := h.Sections[i]
		if got != want {
			t.Errorf("%s: section %d %+v, file %+v", name, i, got, want)
		}
	}
}

// TestMappedHeadersGuest: the headers read from each mapped mini-NT
// image, and from a real 32-bit Windows image, equal debug/pe's reading
// of the file.
func TestMappedHeadersGuest(t *testing.T) {
	images := guestImages(t)
	images[signedPE32(t)] = 0x400000
	for path, base := range images {
		l := loadFile(t, path, base)
		h, err := MappedHeaders(l.g, base)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		checkHeaders(t, l, h)
		if s, ok := h.SectionAt(h.AddressOfEntryPoint); h.AddressOfEntryPoint != 0 && (!ok || s.Characteristics&dpe.IMAGE_SCN_CNT_CODE == 0) {
			t.Errorf("%s: entry point %#x in section %+v (%v)", filepath.Base(path), h.AddressOfEntryPoint, s, ok)
		}
	}
}

// TestMappedHeadersSynthetic: the synthetic image the other tests and the
// fuzz seeds use reads as it was built (and as debug/pe reads it).
func TestMappedHeadersSynthetic(t *testing.T) {
	g := synthMemory(nil)
	h, err := MappedHeaders(g, g.base)
	if err != nil {
		t.Fatal(err)
	}
	if h.ImageBase != 0x180000000 || h.SizeOfImage != synthSize || len(h.Sections) != 3 || h.Sections[2].Name != ".data" ||
		h.Sections[2].SizeOfRawData != 0 || len(h.Directories) != 16 {
		t.Errorf("%+v", h)
	}
	if d, ok := h.Directory(DirExport); !ok || d != (DataDirectory{synthExport, 0x200}) {
		t.Errorf("export directory %+v, %v", d, ok)
	}
	for _, i := range []int{DirDebug, -1, 16, 1000} {
		if d, ok := h.Directory(i); ok {
			t.Errorf("Directory(%d) = %+v", i, d)
		}
	}
}

// TestMappedHeadersMalformed: lies in the headers give ErrFormat, never a
// panic or a read of what they claim.
func TestMappedHeadersMalformed(t *testing.T) {
	sec := func(i, field int) int { return synthSecs + 40*i + field }
	for name, mutate := range map[string]func(b []byte){
		"no MZ":                 func(b []byte) { b[0] = 'X' },
		"lfanew small":          func(b []byte) { put32(b, 0x3c, 8) },
		"lfanew huge":           func(b []byte) { put32(b, 0x3c, 0xfffffff0) },
		"no PE":                 func(b []byte) { b[synthLfanew+1] = 'X' },
		"bad magic":             func(b []byte) { put16(b, synthOpt, 0x107) },
		"opt header tiny":       func(b []byte) { put16(b, synthLfanew+20, 40) },
		"opt header huge":       func(b []byte) { put16(b, synthLfanew+20, 0xffff) },
		"PE32+ short of dirs":   func(b []byte) { put16(b, synthLfanew+20, 100) },
		"dirs past opt header":  func(b []byte) { put16(b, synthLfanew+20, 112+8*3) },
		"SizeOfImage 0":         func(b []byte) { put32(b, synthOpt+56, 0) },
		"SizeOfImage 4 GiB":     func(b []byte) { put32(b, synthOpt+56, 0xffffffff) },
		"SizeOfHeaders huge":    func(b []byte) { put32(b, synthOpt+60, 0x10000) },
		"sections 65535":        func(b []byte) { put16(b, synthLfanew+6, 0xffff) },
		"sections 97":           func(b []byte) { put16(b, synthLfanew+6, 97) },
		"section past image":    func(b []byte) { put32(b, sec(1, 12), 0x3f00) },
		"section size huge":     func(b []byte) { put32(b, sec(0, 8), 0xfffff000) },
		"section VA wraps":      func(b []byte) { put32(b, sec(2, 12), 0xffffff00); put32(b, sec(2, 8), 0x200) },
		"raw size when VS is 0": func(b []byte) { put32(b, sec(0, 8), 0); put32(b, sec(0, 16), 0x7fff0000) },
		"table past image": func(b []byte) {
			put32(b, 0x3c, 0x3ec0) // the table's 3 entries end at 0x4040
			copy(b[0x3ec0:], b[synthLfanew:synthLfanew+24+240])
		},
	} {
		g := synthMemory(mutate)
		if h, err := MappedHeaders(g, g.base); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %+v, %v; want ErrFormat", name, h, err)
		}
	}
	// The image wrapping the top of the address space.
	g := synthMemory(nil)
	g.base = 0xffffffffffffe000
	if _, err := MappedHeaders(g, g.base); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "wraps") {
		t.Errorf("at the top of memory: %v", err)
	}
	// 16 directories or more are read as 16; fewer as they are.
	for n, want := range map[uint32]int{0: 0, 2: 2, 16: 16, 17: 16, 0xffffffff: 16} {
		g := synthMemory(func(b []byte) { put32(b, synthOpt+108, n) })
		h, err := MappedHeaders(g, g.base)
		if err != nil || len(h.Directories) != want || h.NumberOfRvaAndSizes != n {
			t.Errorf("NumberOfRvaAndSizes %d: %v, %v", n, h, err)
		}
	}
}

// TestMappedHeadersTruncated: memory that ends inside the headers is an
// UnreadableError naming the missing page, for each part of them.
func TestMappedHeadersTruncated(t *testing.T) {
	for what, cut := range map[string]int{
		"DOS header":      0x20,
		"NT headers":      synthLfanew + 10,
		"optional header": synthOpt + 100,
		"section table":   synthSecs + 50,
	} {
		g := synthMemory(nil)
		// Move the headers to straddle a page boundary at the cut, and
		// make the second page unreadable.
		shift := PageSize - cut
		img := make([]byte, PageSize+synthSize)
		copy(img[shift:], g.mem)
		g.mem, g.base = img, g.base-PageSize
		g.missing[g.base+PageSize] = true
		_, err := MappedHeaders(g, g.base+uint64(shift))
		var ue *UnreadableError
		if !errors.As(err, &ue) || ue.What != what || len(ue.Pages) != 1 || ue.Pages[0] != g.base+PageSize {
			t.Errorf("cut in the %s: %v", what, err)
		}
	}
}
