package gdbstub

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Registers is one vCPU's register file as a "g" packet carried it,
// decoded through the target description. Values are little-endian, as on
// x86 (QEMU's gdbstub sends target byte order, and Frost's guests are
// x86-64).
type Registers struct {
	Thread      ThreadID
	m           *RegisterMap
	raw         []byte
	unavailable []bool // per byte: the stub sent "xx"
}

// parseRegisters decodes a "g" reply. A short reply leaves the registers
// past its end unavailable; QEMU always sends the whole file.
func parseRegisters(m *RegisterMap, th ThreadID, reply []byte) (*Registers, error) {
	if len(reply)%2 != 0 || len(reply)/2 > m.size {
		return nil, protocolErr("g reply of %d hex digits for a %d-byte register file", len(reply), m.size)
	}
	r := &Registers{Thread: th, m: m, raw: make([]byte, m.size), unavailable: make([]bool, m.size)}
	n := len(reply) / 2
	if !decodeHex(r.raw[:n], reply, r.unavailable[:n]) {
		return nil, protocolErr("g reply is not hex")
	}
	for i := n; i < m.size; i++ {
		r.unavailable[i] = true
	}
	return r, nil
}

// Map is the layout the snapshot was decoded with.
func (r *Registers) Map() *RegisterMap { return r.m }

// Raw returns a copy of the register file in "g" layout.
func (r *Registers) Raw() []byte { return slices.Clone(r.raw) }

// Clone returns an independent copy, e.g. to edit for SetRegisters.
func (r *Registers) Clone() *Registers {
	c := *r
	c.raw = slices.Clone(r.raw)
	c.unavailable = slices.Clone(r.unavailable)
	return &c
}

func (r *Registers) lookup(name string) (RegisterInfo, error) {
	info, ok := r.m.Lookup(name)
	if !ok {
		return RegisterInfo{}, &RegisterError{Name: name, Err: ErrUnknownRegister}
	}
	return info, nil
}

// Bytes returns the register's bytes in target (little-endian) order.
func (r *Registers) Bytes(name string) ([]byte, error) {
	info, err := r.lookup(name)
	if err != nil {
		return nil, err
	}
	span := r.raw[info.Offset : info.Offset+info.Size()]
	if slices.Contains(r.unavailable[info.Offset:info.Offset+info.Size()], true) {
		return nil, &RegisterError{Name: name, Err: ErrUnavailable}
	}
	return slices.Clone(span), nil
}

// Uint returns a register of at most 64 bits as a number.
func (r *Registers) Uint(name string) (uint64, error) {
	b, err := r.Bytes(name)
	if err != nil {
		return 0, err
	}
	if len(b) > 8 {
		return 0, &RegisterError{Name: name, Err: fmt.Errorf("%d bits do not fit a uint64", len(b)*8)}
	}
	var buf [8]byte
	copy(buf[:], b)
	return binary.LittleEndian.Uint64(buf[:]), nil
}

// SetBytes replaces a register's value; b must be exactly its size.
func (r *Registers) SetBytes(name string, b []byte) error {
	info, err := r.lookup(name)
	if err != nil {
		return err
	}
	if len(b) != info.Size() {
		return &RegisterError{Name: name, Err: fmt.Errorf("%d bytes for a %d-byte register", len(b), info.Size())}
	}
	copy(r.raw[info.Offset:], b)
	clear(r.unavailable[info.Offset : info.Offset+info.Size()])
	return nil
}

// SetUint replaces a register of at most 64 bits.
func (r *Registers) SetUint(name string, v uint64) error {
	info, err := r.lookup(name)
	if err != nil {
		return err
	}
	if info.Size() > 8 {
		return &RegisterError{Name: name, Err: fmt.Errorf("%d bits do not fit a uint64", info.BitSize)}
	}
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], v)
	if info.BitSize < 64 && v>>uint(info.BitSize) != 0 {
		return &RegisterError{Name: name, Err: fmt.Errorf("%#x does not fit %d bits", v, info.BitSize)}
	}
	return r.SetBytes(name, buf[:info.Size()])
}

// gPayload encodes the file for "G". Bytes the stub sent as "xx" go back
// as the zeros they were decoded to: "G" has no way to skip a register.
func (r *Registers) gPayload() []byte {
	return appendHex([]byte{'G'}, r.raw)
}
