package pdb

import (
	"bytes"
	"encoding/binary"
)

// reader walks a byte slice with bounds checks. The first short read sets
// err and every later read returns zero, so a parser checks once at the
// end of a record instead of after every field.
type reader struct {
	b   []byte
	off int
	err bool
}

func (r *reader) need(n int) bool {
	if r.err || n < 0 || len(r.b)-r.off < n {
		r.err = true
		return false
	}
	return true
}

func (r *reader) u8() uint8 {
	if !r.need(1) {
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

// cstring reads a NUL-terminated name. A name that runs to the end of the
// record without a NUL is taken whole: some producers omit the final NUL
// when padding follows.
func (r *reader) cstring() string {
	if r.err {
		return ""
	}
	rest := r.b[r.off:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		r.off = len(r.b)
		return string(rest)
	}
	r.off += i + 1
	return string(rest[:i])
}

func (r *reader) left() int { return len(r.b) - r.off }
