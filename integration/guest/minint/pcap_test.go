package minint

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// pcapOrder is a byte order that can append.
type pcapOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// pcapFile writes a pcap in byte order bo with the given link type and
// records (caplen, origlen, data), and returns its path.
func pcapFile(t *testing.T, bo pcapOrder, link uint32, recs ...[]byte) string {
	t.Helper()
	b := bo.AppendUint32(nil, 0xa1b2c3d4)
	b = bo.AppendUint16(b, 2)
	b = bo.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = bo.AppendUint32(b, 65535)
	b = bo.AppendUint32(b, link)
	for _, r := range recs {
		b = append(b, r...)
	}
	p := filepath.Join(t.TempDir(), "x.pcap")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pcapRecord(bo pcapOrder, data []byte, orig uint32) []byte {
	r := make([]byte, 8)
	r = bo.AppendUint32(r, uint32(len(data)))
	r = bo.AppendUint32(r, orig)
	return append(r, data...)
}

func TestReadPcap(t *testing.T) {
	for _, bo := range []pcapOrder{binary.LittleEndian, binary.BigEndian} {
		a, b := []byte{1, 2, 3}, make([]byte, 60)
		p := pcapFile(t, bo, 1, pcapRecord(bo, a, 3), pcapRecord(bo, b, 60))
		frames, truncated, err := ReadPcap(p)
		if err != nil || truncated || len(frames) != 2 || string(frames[0]) != string(a) || len(frames[1]) != 60 {
			t.Errorf("%v: ReadPcap = %v, %v, %v", bo, frames, truncated, err)
		}
	}
	var bo pcapOrder = binary.LittleEndian
	// A record QEMU had not finished writing.
	whole := pcapRecord(bo, []byte{9, 9}, 2)
	p := pcapFile(t, bo, 1, whole, pcapRecord(bo, []byte{1, 2, 3, 4}, 4)[:18])
	if frames, truncated, err := ReadPcap(p); err != nil || !truncated || len(frames) != 1 {
		t.Errorf("cut record: %v, %v, %v", frames, truncated, err)
	}
	for name, p := range map[string]string{
		"snapped frame": pcapFile(t, bo, 1, pcapRecord(bo, []byte{1, 2}, 64)),
		"not ethernet":  pcapFile(t, bo, 101),
		"huge record":   pcapFile(t, bo, 1, pcapRecord(bo, nil, 0)[:8], bo.AppendUint32(bo.AppendUint32(nil, 1<<30), 1<<30)),
	} {
		if frames, _, err := ReadPcap(p); err == nil {
			t.Errorf("%s: ReadPcap accepted it: %v", name, frames)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, make([]byte, 24), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadPcap(bad); err == nil {
		t.Error("ReadPcap accepted a zero magic")
	}
}
