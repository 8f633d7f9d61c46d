package unwind

import (
	"encoding/binary"
	"fmt"
)

const pageSize = 4096

// fakeMem is sparse guest memory: pages exist once written; reading an
// absent page fails, as a Memory must.
type fakeMem struct {
	pages map[uint64]*[pageSize]byte
	reads int
}

func newMem() *fakeMem { return &fakeMem{pages: map[uint64]*[pageSize]byte{}} }

type absentError struct{ page uint64 }

func (e *absentError) Error() string { return fmt.Sprintf("page %#x not present", e.page) }

func (m *fakeMem) ReadAt(p []byte, addr uint64) (int, error) {
	m.reads++
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		pg, ok := m.pages[a&^(pageSize-1)]
		if !ok {
			return n, &absentError{page: a &^ (pageSize - 1)}
		}
		n += copy(p[n:], pg[a&(pageSize-1):])
	}
	return n, nil
}

func (m *fakeMem) write(addr uint64, b []byte) {
	for len(b) > 0 {
		pa := addr &^ (pageSize - 1)
		pg, ok := m.pages[pa]
		if !ok {
			pg = new([pageSize]byte)
			m.pages[pa] = pg
		}
		n := copy(pg[addr-pa:], b)
		b, addr = b[n:], addr+uint64(n)
	}
}

func (m *fakeMem) put64(addr, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	m.write(addr, b[:])
}

// drop removes the page holding addr.
func (m *fakeMem) drop(addr uint64) { delete(m.pages, addr&^(pageSize-1)) }

// code makes one UNWIND_CODE slot.
func code(offset, op, opInfo uint8) uint16 { return uint16(offset) | uint16(op|opInfo<<4)<<8 }

// infoBytes lays out an UNWIND_INFO: header, codes padded to an even
// count, then tail (a handler RVA or a chained RUNTIME_FUNCTION).
func infoBytes(version, flags, prolog, frameReg, frameOff uint8, codes []uint16, tail ...uint32) []byte {
	b := []byte{version | flags<<3, prolog, uint8(len(codes)), frameReg | frameOff<<4}
	for _, c := range codes {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	if len(codes)%2 == 1 {
		b = append(b, 0, 0)
	}
	for _, t := range tail {
		b = binary.LittleEndian.AppendUint32(b, t)
	}
	return b
}

// fnList is a Functions over a plain list (no validation), so tests can
// hand Unwind entries a Table would refuse.
type fnList []Function

func (l fnList) FunctionAt(addr uint64) (Function, bool, error) {
	for _, f := range l {
		if f.Contains(addr) {
			return f, true, nil
		}
	}
	return Function{}, false, nil
}

// fnFunc adapts a function to Functions.
type fnFunc func(addr uint64) (Function, bool, error)

func (f fnFunc) FunctionAt(addr uint64) (Function, bool, error) { return f(addr) }

// buf is the page bytes from addr on (the page must exist).
func (m *fakeMem) buf(addr uint64) []byte { return m.pages[addr&^(pageSize-1)][addr&(pageSize-1):] }
