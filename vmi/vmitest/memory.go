package vmitest

import (
	"fmt"
	"slices"

	"github.com/frostvmi/frost/vmi"
)

const pageSize = 4096

// memory is guest RAM: ranges of it, with pages made on first write (an
// untouched page reads as zeros, as fresh RAM does).
type memory struct {
	ram   []vmi.PhysicalRange // in address order, not overlapping
	pages map[uint64]*[pageSize]byte
}

func (m *memory) add(gpa, size uint64) {
	if size == 0 {
		return
	}
	m.ram = append(m.ram, vmi.PhysicalRange{GPA: gpa, Size: size, Offset: gpa})
	slices.SortFunc(m.ram, func(a, b vmi.PhysicalRange) int {
		switch {
		case a.GPA < b.GPA:
			return -1
		case a.GPA > b.GPA:
			return 1
		}
		return 0
	})
}

func (m *memory) ranges() []vmi.PhysicalRange { return slices.Clone(m.ram) }

// check fails with a *vmi.NotRAMError at the first address of
// [gpa, gpa+n) that is not RAM.
func (m *memory) check(gpa, n uint64) error {
	if n > 0 && n-1 > ^uint64(0)-gpa {
		return fmt.Errorf("vmitest: %d bytes at GPA %#x go past the top of the address space", n, gpa)
	}
	for n > 0 {
		in := false
		for _, r := range m.ram {
			if gpa >= r.GPA && gpa-r.GPA < r.Size {
				run := min(n, r.Size-(gpa-r.GPA))
				gpa, n, in = gpa+run, n-run, true
				break
			}
		}
		if !in {
			return &vmi.NotRAMError{GPA: gpa, What: "no RAM in the fake guest"}
		}
	}
	return nil
}

func (m *memory) read(gpa uint64, p []byte) error {
	if err := m.check(gpa, uint64(len(p))); err != nil {
		return err
	}
	for i := 0; i < len(p); {
		a := gpa + uint64(i)
		n := min(len(p)-i, pageSize-int(a%pageSize))
		if pg := m.pages[a&^(pageSize-1)]; pg != nil {
			copy(p[i:i+n], pg[a%pageSize:])
		} else {
			clear(p[i : i+n])
		}
		i += n
	}
	return nil
}

func (m *memory) write(gpa uint64, p []byte) error {
	if err := m.check(gpa, uint64(len(p))); err != nil {
		return err
	}
	if m.pages == nil {
		m.pages = map[uint64]*[pageSize]byte{}
	}
	for i := 0; i < len(p); {
		a := gpa + uint64(i)
		pg := m.pages[a&^(pageSize-1)]
		if pg == nil {
			pg = new([pageSize]byte)
			m.pages[a&^(pageSize-1)] = pg
		}
		i += copy(pg[a%pageSize:], p[i:])
	}
	return nil
}
