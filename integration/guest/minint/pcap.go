package minint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ReadPcap reads the frames of a classic pcap file such as QEMU's
// filter-dump writes (Config.FilterDump): Ethernet link type, either byte
// order, micro- or nanosecond timestamps. A frame the file cut short
// (captured length below its original length) is an error, since a
// comparison against it would be wrong. A record cut off at the end of the
// file (QEMU still writing) is dropped, and reported as truncated.
func ReadPcap(path string) (frames [][]byte, truncated bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	var hdr [24]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return nil, false, fmt.Errorf("minint: pcap %s: header: %w", path, err)
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(hdr[:4]) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, false, fmt.Errorf("minint: pcap %s: magic %#x is not pcap's", path, hdr[:4])
	}
	if lt := bo.Uint32(hdr[20:]) & 0x0fffffff; lt != 1 {
		return nil, false, fmt.Errorf("minint: pcap %s: link type %d, want 1 (Ethernet)", path, lt)
	}
	for n := 0; ; n++ {
		var rec [16]byte
		if _, err := io.ReadFull(f, rec[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return frames, false, nil
			}
			return frames, true, nil
		}
		incl, orig := bo.Uint32(rec[8:]), bo.Uint32(rec[12:])
		if incl > 1<<18 {
			return frames, false, fmt.Errorf("minint: pcap %s: record %d claims %d bytes", path, n, incl)
		}
		b := make([]byte, incl)
		if _, err := io.ReadFull(f, b); err != nil {
			return frames, true, nil
		}
		if incl != orig {
			return frames, false, fmt.Errorf("minint: pcap %s: record %d holds %d of the frame's %d bytes", path, n, incl, orig)
		}
		frames = append(frames, b)
	}
}
