package nt

import (
	"encoding/binary"
	"fmt"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/translate"
)

// VirtualMemory reads guest virtual memory in the address space whose page
// tables start at dtb. A page without bytes (paged out with no paging file
// supplied, not mapped, ...) is an error, never zeros.
type VirtualMemory interface {
	ReadVirtual(dtb, va uint64, p []byte) error
}

// TranslatorMemory reads through translate, which knows every PTE state.
type TranslatorMemory struct{ T *translate.Translator }

// ReadVirtual implements VirtualMemory.
func (m TranslatorMemory) ReadVirtual(dtb, va uint64, p []byte) error {
	r := m.T.ReadVirtual(dtb, va, p)
	return r.Err()
}

// maxStruct bounds one structure read: sizes come from the symbols, and a
// corrupt or hostile ISF must not make Frost allocate gigabytes.
const maxStruct = 1 << 16

// read fills p from va in dtb's address space, or says what failed.
func (k *Kernel) read(what string, dtb, va uint64, p []byte) error {
	if err := k.mem.Load().m.ReadVirtual(dtb, va, p); err != nil {
		return &ReadError{What: what, DTB: dtb, VA: va, Len: len(p), Err: err}
	}
	return nil
}

func (k *Kernel) readU64(what string, dtb, va uint64) (uint64, error) {
	var b [8]byte
	if err := k.read(what, dtb, va, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// pointer reads a kernel pointer at va in the kernel's address space.
func (k *Kernel) pointer(what string, va uint64) (uint64, error) {
	return k.readU64(what, k.dtb, va)
}

// global returns the VA of a kernel global.
func (k *Kernel) global(name string) (uint64, error) {
	rva, err := k.lay.rva(name)
	if err != nil {
		return 0, err
	}
	return k.base + rva, nil
}

// object is a structure read from the guest in one piece, so fields are
// extracted from one consistent copy instead of one read per field.
type object struct {
	k   *Kernel
	typ string
	va  uint64
	buf []byte
}

// readObject reads sizeof(typ) bytes at va.
func (k *Kernel) readObject(typ string, dtb, va uint64) (*object, error) {
	n, err := k.lay.size(typ)
	if err != nil {
		return nil, err
	}
	if n == 0 || n > maxStruct {
		return nil, &SymbolError{Need: "size of " + typ, Err: fmt.Errorf("%d bytes is not a plausible size", n)}
	}
	o := &object{k: k, typ: typ, va: va, buf: make([]byte, n)}
	if err := k.read(typ, dtb, va, o.buf); err != nil {
		return nil, err
	}
	return o, nil
}

// bytes returns the raw bytes of a member (an array, a nested structure).
func (o *object) bytes(path string) ([]byte, error) {
	f, err := o.k.lay.field(o.typ + "." + path)
	if err != nil {
		return nil, err
	}
	if f.Offset+f.Size > uint64(len(o.buf)) || f.Offset+f.Size < f.Offset {
		return nil, &SymbolError{Need: o.typ + "." + path, Err: fmt.Errorf("member at %#x+%#x lies outside its %#x-byte type", f.Offset, f.Size, len(o.buf))}
	}
	return o.buf[f.Offset : f.Offset+f.Size], nil
}

// uint reads an integer, pointer or bitfield member.
func (o *object) uint(path string) (uint64, error) {
	f, err := o.k.lay.field(o.typ + "." + path)
	if err != nil {
		return 0, err
	}
	if f.Size == 0 || f.Size > 8 || f.Offset+f.Size > uint64(len(o.buf)) || f.Offset+f.Size < f.Offset {
		return 0, &SymbolError{Need: o.typ + "." + path, Err: fmt.Errorf("a %d-byte member at %#x is not an integer of the %#x-byte type", f.Size, f.Offset, len(o.buf))}
	}
	var raw [8]byte
	copy(raw[:], o.buf[f.Offset:f.Offset+f.Size])
	return f.Extract(binary.LittleEndian.Uint64(raw[:])), nil
}

// uintOr reads an optional member: 0 when the build does not have it.
func (o *object) uintOr(path string) (uint64, error) {
	if !o.k.lay.has(o.typ + "." + path) {
		return 0, nil
	}
	return o.uint(path)
}

// readUint reads an integer or bitfield at va described by f.
func (k *Kernel) readUint(what string, dtb, va uint64, f symbols.Field) (uint64, error) {
	if f.Size == 0 || f.Size > 8 {
		return 0, &SymbolError{Need: what, Err: fmt.Errorf("a %d-byte member is not an integer", f.Size)}
	}
	var raw [8]byte
	if err := k.read(what, dtb, va, raw[:f.Size]); err != nil {
		return 0, err
	}
	return f.Extract(binary.LittleEndian.Uint64(raw[:])), nil
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
