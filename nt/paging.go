package nt

import (
	"encoding/binary"
	"fmt"

	"github.com/frostvmi/frost/translate"
)

// Before the kernel's symbols are loaded there is no PTE Layout, so the
// first look at the kernel (finding its image, reading its identity and a
// few globals) walks the page tables as the CPU does: hardware-valid
// entries only, which is all a mapped kernel image and its data need.
// These bits are x86-64 architecture, not Windows: present (bit 0), page
// size (bit 7), the frame address in bits 12..51. Anything not present is
// unreadable here; translate handles every software state once the
// symbols are known.

const (
	ptePresent   = 1 << 0
	ptePageSize  = 1 << 7
	pteFrameMask = 0x000f_ffff_ffff_f000
)

// HardwareMemory reads virtual memory by a hardware walk of 4-level page
// tables from CR3. It implements VirtualMemory (ignoring none of the DTBs
// it is given) and pe.Memory (in the address space of CR3).
type HardwareMemory struct {
	Physical translate.Physical
	CR3      uint64
}

// NotPresentError says which entry of a hardware walk was not present.
type NotPresentError struct {
	VA    uint64
	Level string
	Entry uint64
}

func (e *NotPresentError) Error() string {
	return fmt.Sprintf("nt: %#x not present (%s %#x)", e.VA, e.Level, e.Entry)
}

// physical translates va with a hardware walk from dtb.
func (m HardwareMemory) physical(dtb, va uint64) (uint64, error) {
	if !canonical(va) {
		return 0, &NotPresentError{VA: va, Level: "non-canonical address"}
	}
	table := dtb & pteFrameMask
	var b [8]byte
	for level, shift := range []uint{39, 30, 21, 12} {
		idx := (va >> shift) & 0x1ff
		if _, err := m.Physical.ReadAt(b[:], int64(table+idx*8)); err != nil {
			return 0, fmt.Errorf("nt: reading the %s of %#x at PA %#x: %w", levelNames[level], va, table+idx*8, err)
		}
		e := binary.LittleEndian.Uint64(b[:])
		if e&ptePresent == 0 {
			return 0, &NotPresentError{VA: va, Level: levelNames[level], Entry: e}
		}
		if (shift == 30 || shift == 21) && e&ptePageSize != 0 {
			size := uint64(1) << shift
			return e&pteFrameMask&^(size-1) | va&(size-1), nil
		}
		table = e & pteFrameMask
	}
	return table | va&0xfff, nil
}

var levelNames = [4]string{"PML4E", "PDPTE", "PDE", "PTE"}

// ReadVirtual implements VirtualMemory.
func (m HardwareMemory) ReadVirtual(dtb, va uint64, p []byte) error {
	for done := 0; done < len(p); {
		a := va + uint64(done)
		pa, err := m.physical(dtb, a)
		if err != nil {
			return err
		}
		n := min(len(p)-done, int(0x1000-a&0xfff))
		if _, err := m.Physical.ReadAt(p[done:done+n], int64(pa)); err != nil {
			return fmt.Errorf("nt: reading PA %#x for %#x: %w", pa, a, err)
		}
		done += n
	}
	return nil
}

// ReadAt implements pe.Memory in CR3's address space.
func (m HardwareMemory) ReadAt(p []byte, addr uint64) (int, error) {
	if err := m.ReadVirtual(m.CR3, addr, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
