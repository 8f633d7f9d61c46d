package msf_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/frostvmi/frost/symbols/internal/minipdb"
	"github.com/frostvmi/frost/symbols/msf"
)

func open(t *testing.T, b []byte) (*msf.File, error) {
	t.Helper()
	return msf.Open(bytes.NewReader(b), int64(len(b)))
}

// TestStreams reads streams spanning many blocks, with a directory that
// itself spans blocks (512-byte blocks, 300 streams).
func TestStreams(t *testing.T) {
	var streams [][]byte
	for i := 0; i < 300; i++ {
		s := bytes.Repeat([]byte{byte(i)}, i*7)
		streams = append(streams, s)
	}
	streams[5] = bytes.Repeat([]byte("0123456789"), 400) // 4000 bytes: 8 blocks
	b := minipdb.MSF(512, streams)
	f, err := open(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if f.NumStreams() != 300 || f.BlockSize() != 512 {
		t.Fatalf("%d streams of block size %d", f.NumStreams(), f.BlockSize())
	}
	for i, want := range streams {
		got, err := f.Stream(i)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("stream %d: %d bytes, %v; want %d", i, len(got), err, len(want))
		}
		if n, _ := f.StreamSize(i); n != uint32(len(want)) {
			t.Errorf("StreamSize(%d) = %d", i, n)
		}
	}
	if _, err := f.Stream(300); !errors.Is(err, msf.ErrFormat) {
		t.Errorf("Stream(300): %v", err)
	}
	if _, err := f.Stream(-1); !errors.Is(err, msf.ErrFormat) {
		t.Errorf("Stream(-1): %v", err)
	}
}

// directory finds the stream directory of a minipdb.MSF file.
func directory(b []byte) (dirOff int) {
	bs := int(binary.LittleEndian.Uint32(b[32:]))
	mapBlock := int(binary.LittleEndian.Uint32(b[52:]))
	first := int(binary.LittleEndian.Uint32(b[mapBlock*bs:]))
	return first * bs
}

func TestNilStream(t *testing.T) {
	b := minipdb.MSF(512, [][]byte{nil, []byte("info"), nil})
	d := directory(b)
	// Mark stream 2 as absent (size 0xffffffff): it reads as empty.
	binary.LittleEndian.PutUint32(b[d+4+2*4:], 0xffffffff)
	f, err := open(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := f.Stream(2); err != nil || len(s) != 0 {
		t.Errorf("a nil stream: %q, %v", s, err)
	}
	if s, err := f.Stream(1); err != nil || string(s) != "info" {
		t.Errorf("stream 1: %q, %v", s, err)
	}
}

// TestLyingDirectory: a directory that claims more than the file holds
// is refused before anything is allocated from its claims.
func TestLyingDirectory(t *testing.T) {
	base := minipdb.MSF(512, [][]byte{nil, bytes.Repeat([]byte{1}, 600)})
	d := directory(base)
	for name, mutate := range map[string]func(b []byte){
		"huge stream":  func(b []byte) { binary.LittleEndian.PutUint32(b[d+4+4:], 0x7fffffff) },
		"many streams": func(b []byte) { binary.LittleEndian.PutUint32(b[d:], 1<<30) },
		"block past end": func(b []byte) {
			binary.LittleEndian.PutUint32(b[d+4+2*4:], 1<<20) // stream 1's first block
		},
		"block zero": func(b []byte) { binary.LittleEndian.PutUint32(b[d+4+2*4:], 0) },
		"shared blocks": func(b []byte) {
			// Stream 1 claims more blocks than the file has, by repeating one.
			binary.LittleEndian.PutUint32(b[d+4+4:], 512*uint32(len(b)/512+1))
		},
	} {
		b := append([]byte(nil), base...)
		mutate(b)
		f, err := open(t, b)
		if err == nil {
			_, err = f.Stream(1)
		}
		if !errors.Is(err, msf.ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
}
