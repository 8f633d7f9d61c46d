package pdb

import "encoding/binary"

// The TPI stream: a header, then type records numbered from
// TypeIndexBegin (0x1000). Indices below that are simple types.
const (
	tpiHeaderMin   = 56
	firstTypeIndex = 0x1000
)

// typeRecord is one TPI record: its leaf kind and the bytes after it.
type typeRecord struct {
	kind uint16
	data []byte
}

// splitTPI returns the type records and the index of the first. Records
// are split by their own lengths; a kind this reader does not know is
// kept and ignored, never fatal.
func splitTPI(b []byte) ([]typeRecord, uint32, error) {
	if len(b) < tpiHeaderMin {
		return nil, 0, formatErr("TPI stream", "%d bytes, want a %d-byte header", len(b), tpiHeaderMin)
	}
	le := binary.LittleEndian
	hdrSize := le.Uint32(b[4:])
	begin, end := le.Uint32(b[8:]), le.Uint32(b[12:])
	recBytes := le.Uint32(b[16:])
	if hdrSize < tpiHeaderMin || uint64(hdrSize)+uint64(recBytes) > uint64(len(b)) {
		return nil, 0, formatErr("TPI stream", "header of %d bytes and %d bytes of records in a %d-byte stream", hdrSize, recBytes, len(b))
	}
	if begin < firstTypeIndex || end < begin {
		return nil, 0, formatErr("TPI stream", "type indices [%#x, %#x)", begin, end)
	}
	body := b[hdrSize : uint64(hdrSize)+uint64(recBytes)]
	// Every record takes at least 4 bytes, which bounds the slice.
	want := min(uint64(end-begin), uint64(len(body)/4))
	recs := make([]typeRecord, 0, want)
	for off := 0; off+4 <= len(body); {
		n := int(le.Uint16(body[off:]))
		if n < 2 || off+2+n > len(body) {
			return nil, 0, formatErr("TPI stream", "record %#x at %d has length %d, %d bytes remain", begin+uint32(len(recs)), off, n, len(body)-off-2)
		}
		recs = append(recs, typeRecord{kind: le.Uint16(body[off+2:]), data: body[off+4 : off+2+n]})
		off += 2 + n
	}
	if uint64(len(recs)) > uint64(end-begin) {
		recs = recs[:end-begin]
	}
	return recs, begin, nil
}
