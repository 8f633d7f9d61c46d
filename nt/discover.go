package nt

import (
	"fmt"
	"strings"

	"github.com/frostvmi/frost/symbols/pe"
)

// KernelPDBNames are the PDB names of the x64 (and older x86) NT kernels:
// uniprocessor, multiprocessor, PAE. An image naming any other PDB (hal,
// a driver) is passed over.
var KernelPDBNames = []string{"ntkrnlmp.pdb", "ntoskrnl.pdb", "ntkrpamp.pdb", "ntkrnlpa.pdb"}

// ScanLimit is how far below the starting address the kernel image's
// headers may be: ntoskrnl is about 11 MB, and the starting address is
// somewhere inside it.
const ScanLimit = 32 << 20

// KernelImage is a kernel image found in guest memory.
type KernelImage struct {
	Base  uint64
	Image pe.Image // identity: RSDS GUID, age, PDB name; SizeOfImage
}

// IsKernelPDB reports whether a PDB name is an NT kernel's.
func IsKernelPDB(name string) bool {
	for _, n := range KernelPDBNames {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// FindKernel scans down from an address inside ntoskrnl (an IDT handler,
// or a kernel-mode RIP), in 4 KiB steps, skipping pages that are not
// mapped (INIT is discarded after boot, and sections may be unmapped), for
// at most ScanLimit bytes, for a PE image whose RSDS names a kernel PDB.
func FindKernel(mem pe.Memory, from uint64) (KernelImage, error) {
	if from < 1<<63 {
		return KernelImage{}, fmt.Errorf("%w: %#x is not a kernel address", ErrKernelNotFound, from)
	}
	page := from &^ 0xfff
	var others []string
	var mz [2]byte
	for off := uint64(0); off <= ScanLimit && off <= page; off += 0x1000 {
		va := page - off
		if va < 1<<63 {
			break
		}
		if _, err := mem.ReadAt(mz[:], va); err != nil || mz != [2]byte{'M', 'Z'} {
			continue
		}
		img, err := pe.Mapped(mem, va)
		if err != nil {
			continue // an MZ that is not an image, or one we cannot read
		}
		if IsKernelPDB(img.ID.PDBName) {
			if uint64(img.SizeOfImage) <= from-va {
				// The image ends below the starting address: a PE that
				// happens to be mapped there, not the one we are in.
				others = append(others, fmt.Sprintf("%s at %#x ends below %#x", img.ID.PDBName, va, from))
				continue
			}
			return KernelImage{Base: va, Image: img}, nil
		}
		others = append(others, fmt.Sprintf("%s at %#x", img.ID.PDBName, va))
	}
	msg := fmt.Sprintf("no image naming %s within %d MiB below %#x", strings.Join(KernelPDBNames, "/"), ScanLimit>>20, from)
	if len(others) > 0 {
		msg += " (passed over: " + strings.Join(others, ", ") + ")"
	}
	return KernelImage{}, fmt.Errorf("%w: %s", ErrKernelNotFound, msg)
}

// IDTHandler returns the handler address of an IDT vector, from the
// 16-byte x64 interrupt gate (offset bits 0-15, 16-31 and 32-63 in three
// pieces: architecture, not Windows). idtBase comes from HMP `info
// registers` (QEMU's gdbstub does not expose IDTR).
func IDTHandler(mem pe.Memory, idtBase uint64, vector int) (uint64, error) {
	if vector < 0 || vector > 255 {
		return 0, fmt.Errorf("nt: IDT vector %d out of range", vector)
	}
	var g [16]byte
	if _, err := mem.ReadAt(g[:], idtBase+uint64(vector)*16); err != nil {
		return 0, fmt.Errorf("nt: reading IDT vector %d at %#x: %w", vector, idtBase+uint64(vector)*16, err)
	}
	lo := uint64(g[0]) | uint64(g[1])<<8
	mid := uint64(g[6]) | uint64(g[7])<<8
	hi := uint64(g[8]) | uint64(g[9])<<8 | uint64(g[10])<<16 | uint64(g[11])<<24
	if g[5]&0x80 == 0 {
		return 0, fmt.Errorf("nt: IDT vector %d is not present", vector)
	}
	return lo | mid<<16 | hi<<32, nil
}
