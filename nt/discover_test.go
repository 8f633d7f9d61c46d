package nt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// writePE writes the headers of a mapped PE32+ image at base whose
// CodeView record names pdb: just what pe.Mapped reads.
func writePE(m *fakeMemory, base uint64, pdb string, sizeOfImage uint32) {
	le := binary.LittleEndian
	h := make([]byte, 0x1000)
	copy(h, "MZ")
	le.PutUint32(h[0x3c:], 0x80)
	copy(h[0x80:], "PE\x00\x00")
	le.PutUint16(h[0x84:], 0x8664)
	le.PutUint16(h[0x80+20:], 240) // SizeOfOptionalHeader
	opt := h[0x98:]
	le.PutUint16(opt, 0x20b)
	le.PutUint32(opt[56:], sizeOfImage)
	le.PutUint32(opt[108:], 16)        // NumberOfRvaAndSizes
	le.PutUint32(opt[112+6*8:], 0x200) // the debug directory
	le.PutUint32(opt[112+6*8+4:], 28)
	dd := h[0x200:]
	le.PutUint32(dd[12:], 2) // IMAGE_DEBUG_TYPE_CODEVIEW
	rec := append([]byte("RSDS"), bytes.Repeat([]byte{0xab}, 16)...)
	rec = le.AppendUint32(rec, 1)
	rec = append(append(rec, `C:\build\`+pdb...), 0)
	le.PutUint32(dd[16:], uint32(len(rec)))
	le.PutUint32(dd[20:], 0x300)
	copy(h[0x300:], rec)
	m.write(base, h)
}

func TestFindKernel(t *testing.T) {
	const k = 0xfffff80000200000
	m := newFakeMemory()
	writePE(m, k, "ntkrnlmp.pdb", 0x800000)
	m.write(k+0x1000, make([]byte, 0x2000))                // .text pages
	writePE(m, k+0x300000, "hal.pdb", 0x4000)              // another PE: keep looking
	writePE(m, k+0x400000, "ntoskrnl.pdb", 0x1000)         // a kernel PDB name, but it ends below
	m.write(k+0x500000, bytes.Repeat([]byte("MZ"), 0x800)) // MZ that is no image
	// Pages between are unmapped: the scan steps over them.
	from := uint64(k + 0x500123)
	img, err := FindKernel(m, from)
	if err != nil {
		t.Fatal(err)
	}
	if img.Base != k || img.Image.ID.PDBName != "ntkrnlmp.pdb" || img.Image.SizeOfImage != 0x800000 {
		t.Errorf("FindKernel = %+v", img)
	}

	// Too far: the kernel is more than ScanLimit below.
	_, err = FindKernel(m, k+ScanLimit+0x2000)
	if !errors.Is(err, ErrKernelNotFound) || !strings.Contains(err.Error(), "hal.pdb") {
		t.Errorf("beyond the scan limit: %v; want ErrKernelNotFound naming what was passed over", err)
	}
	if _, err := FindKernel(m, 0x7ff600001000); !errors.Is(err, ErrKernelNotFound) {
		t.Errorf("from a user address: %v", err)
	}
	if !IsKernelPDB("NTKRNLMP.PDB") || IsKernelPDB("hal.pdb") {
		t.Error("IsKernelPDB")
	}
}

// pageTables is a tiny physical memory with hand-built x64 page tables.
type pageTables struct{ mem []byte }

func (p *pageTables) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > int64(len(p.mem)) {
		return 0, errors.New("past RAM")
	}
	return copy(b, p.mem[off:]), nil
}

func (p *pageTables) set(pa, v uint64) { binary.LittleEndian.PutUint64(p.mem[pa:], v) }

func TestHardwareMemory(t *testing.T) {
	pt := &pageTables{mem: make([]byte, 0x400000)}
	const va = 0xfffff80000201000 // PML4 496, PDPT 0, PD 1, PT 1
	pt.set(0x1000+496*8, 0x2003)
	pt.set(0x2000+0*8, 0x3003)
	pt.set(0x3000+1*8, 0x4003)
	pt.set(0x4000+1*8, 0x10003)
	pt.set(0x3000+2*8, 0x200083) // a 2 MiB page at PA 0x200000
	copy(pt.mem[0x10ff8:], "abcdefgh")
	copy(pt.mem[0x200000+0x1234:], "large")
	hw := HardwareMemory{Physical: pt, CR3: 0x1000 | 0x5}
	b := make([]byte, 8)
	if _, err := hw.ReadAt(b, va+0xff8); err != nil || string(b) != "abcdefgh" {
		t.Errorf("4K read: %q %v", b, err)
	}
	if err := hw.ReadVirtual(0x1000, 0xfffff80000401234, b[:5]); err != nil || string(b[:5]) != "large" {
		t.Errorf("2M read: %q %v", b[:5], err)
	}
	var np *NotPresentError
	// Across the end of the mapped page into an absent PTE.
	if err := hw.ReadVirtual(0x1000, va+0xffc, b); !errors.As(err, &np) || np.Level != "PTE" {
		t.Errorf("read into an absent page: %v", err)
	}
	if _, err := hw.ReadAt(b, 0x0000800000000000); !errors.As(err, &np) {
		t.Errorf("non-canonical: %v", err)
	}
}
