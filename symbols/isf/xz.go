package isf

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// xzMagic starts every xz stream.
var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0}

// IsXZ reports whether b starts like an xz stream.
func IsXZ(b []byte) bool { return bytes.HasPrefix(b, xzMagic) }

// checkXZ walks a single xz stream's index and block headers before any
// decoding, and returns its uncompressed size. The decoder allocates the
// LZMA2 dictionary a block header asks for (up to 4 GiB) and would
// happily inflate a small file into gigabytes; this refuses both past the
// given bounds, so a malformed file costs a bounded amount of memory. A
// dictionary is allowed up to the larger of 8 MiB (xz's default) and the
// uncompressed size, and never past maxDict: no decoder needs a window
// larger than its output.
func checkXZ(b []byte, maxDict, maxSize uint64) (uint64, error) {
	const hdr = 12
	if len(b) < 2*hdr || !IsXZ(b) {
		return 0, fmt.Errorf("not an xz stream")
	}
	foot := b[len(b)-hdr:]
	if foot[10] != 'Y' || foot[11] != 'Z' {
		return 0, fmt.Errorf("xz: no stream footer (only single-stream files are read)")
	}
	back := (uint64(binary.LittleEndian.Uint32(foot[4:])) + 1) * 4
	if back > uint64(len(b)-2*hdr) {
		return 0, fmt.Errorf("xz: index of %d bytes in a %d-byte file", back, len(b))
	}
	idxStart := uint64(len(b)-hdr) - back
	idx := b[idxStart : len(b)-hdr]
	if idx[0] != 0 {
		return 0, fmt.Errorf("xz: no index indicator")
	}
	p := 1
	n, ok := uvarint(idx, &p)
	if !ok || n > uint64(len(idx))/2 {
		return 0, fmt.Errorf("xz: index claims %d blocks", n)
	}
	var total uint64
	var starts []uint64
	block := uint64(hdr)
	for i := uint64(0); i < n; i++ {
		unpadded, ok1 := uvarint(idx, &p)
		usize, ok2 := uvarint(idx, &p)
		if !ok1 || !ok2 {
			return 0, fmt.Errorf("xz: index record %d is truncated", i)
		}
		if total += usize; total > maxSize || total < usize {
			return 0, fmt.Errorf("xz: uncompressed size over the %d-byte limit", maxSize)
		}
		if block >= idxStart || unpadded > idxStart-block {
			return 0, fmt.Errorf("xz: block %d runs past the index", i)
		}
		starts = append(starts, block)
		block += (unpadded + 3) &^ 3
	}
	maxDict = min(maxDict, max(8<<20, total))
	for i, start := range starts {
		if err := checkBlockHeader(b[start:idxStart], maxDict); err != nil {
			return 0, fmt.Errorf("xz: block %d: %w", i, err)
		}
	}
	if block != idxStart {
		return 0, fmt.Errorf("xz: blocks end at %d, the index starts at %d", block, idxStart)
	}
	return total, nil
}

// checkBlockHeader rejects an LZMA2 dictionary larger than maxDict.
func checkBlockHeader(b []byte, maxDict uint64) error {
	if len(b) < 1 || b[0] == 0 {
		return fmt.Errorf("no block header")
	}
	size := (int(b[0]) + 1) * 4
	if size > len(b) {
		return fmt.Errorf("header of %d bytes", size)
	}
	h := b[:size-4] // without its CRC32
	flags := h[1]
	p := 2
	if flags&0x40 != 0 {
		if _, ok := uvarint(h, &p); !ok {
			return fmt.Errorf("truncated compressed size")
		}
	}
	if flags&0x80 != 0 {
		if _, ok := uvarint(h, &p); !ok {
			return fmt.Errorf("truncated uncompressed size")
		}
	}
	for f := 0; f < int(flags&3)+1; f++ {
		id, ok1 := uvarint(h, &p)
		psize, ok2 := uvarint(h, &p)
		if !ok1 || !ok2 || psize > uint64(len(h)-p) {
			return fmt.Errorf("truncated filter flags")
		}
		props := h[p : p+int(psize)]
		p += int(psize)
		if id != 0x21 { // only LZMA2 allocates by what the file says
			continue
		}
		if len(props) != 1 || props[0] > 40 {
			return fmt.Errorf("LZMA2 properties %x", props)
		}
		dict := uint64(0xffffffff)
		if c := props[0]; c < 40 {
			dict = uint64(2|c&1) << (c/2 + 11)
		}
		if dict > maxDict {
			return fmt.Errorf("LZMA2 dictionary of %d bytes, over the %d-byte limit", dict, maxDict)
		}
	}
	return nil
}

// uvarint reads xz's multibyte integer (at most 9 bytes).
func uvarint(b []byte, p *int) (uint64, bool) {
	var v uint64
	for i := 0; i < 9; i++ {
		if *p >= len(b) {
			return 0, false
		}
		c := b[*p]
		*p++
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, true
		}
	}
	return 0, false
}
