// Package msf reads the MSF 7.00 container that holds a PDB's streams.
//
// An MSF file is an array of fixed-size blocks. The superblock (block 0)
// gives the block size and where the stream directory's block list lives;
// the directory gives each stream's size and the blocks that hold it.
// Every size and block number read from the file is checked against the
// file's own size before anything is allocated from it, so a malformed
// file costs at most about its own size in memory.
package msf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Magic is the first 32 bytes of an MSF 7.00 file.
const Magic = "Microsoft C/C++ MSF 7.00\r\n\x1aDS\x00\x00\x00"

const superBlockSize = len(Magic) + 6*4

// nilStreamSize marks a stream that does not exist in the directory.
const nilStreamSize = 0xFFFFFFFF

// ErrFormat is wrapped by every error about a malformed MSF file.
var ErrFormat = errors.New("malformed MSF file")

// FormatError reports what is wrong with an MSF file and where.
type FormatError struct {
	What string
}

func (e *FormatError) Error() string { return "msf: " + e.What }
func (e *FormatError) Unwrap() error { return ErrFormat }

func bad(format string, args ...any) error {
	return &FormatError{What: fmt.Sprintf(format, args...)}
}

// File is an opened MSF container.
type File struct {
	r         io.ReaderAt
	blockSize uint32
	numBlocks uint32
	streams   []stream
}

type stream struct {
	size   uint32
	blocks []uint32
}

// IsMSF reports whether head starts with the MSF 7.00 magic.
func IsMSF(head []byte) bool {
	return len(head) >= len(Magic) && string(head[:len(Magic)]) == Magic
}

// Open reads the superblock and stream directory of the size-byte MSF
// file r.
func Open(r io.ReaderAt, size int64) (*File, error) {
	if size < int64(superBlockSize) {
		return nil, bad("file of %d bytes is smaller than a superblock", size)
	}
	sb := make([]byte, superBlockSize)
	if _, err := r.ReadAt(sb, 0); err != nil {
		return nil, fmt.Errorf("msf: superblock: %w", err)
	}
	if !IsMSF(sb) {
		return nil, bad("no MSF 7.00 signature")
	}
	le := binary.LittleEndian
	f := &File{r: r, blockSize: le.Uint32(sb[32:]), numBlocks: le.Uint32(sb[40:])}
	dirBytes := le.Uint32(sb[44:])
	blockMapAddr := le.Uint32(sb[52:])
	switch f.blockSize {
	case 512, 1024, 2048, 4096, 8192, 16384, 32768:
	default:
		return nil, bad("block size %d", f.blockSize)
	}
	// The file must hold every block it claims; a few trailing bytes of
	// slack are tolerated, a missing block is not.
	if uint64(f.numBlocks)*uint64(f.blockSize) > uint64(size) {
		return nil, bad("%d blocks of %d bytes, but the file has %d bytes", f.numBlocks, f.blockSize, size)
	}
	if f.numBlocks < 3 {
		return nil, bad("%d blocks", f.numBlocks)
	}
	if dirBytes < 4 || uint64(dirBytes) > uint64(f.numBlocks)*uint64(f.blockSize) {
		return nil, bad("stream directory of %d bytes", dirBytes)
	}
	dirBlocks := f.blocksFor(dirBytes)
	// The block map is an array of directory block numbers starting at
	// block blockMapAddr; it may span consecutive blocks.
	mapBytes := make([]byte, 4*dirBlocks)
	if err := f.readContiguous(mapBytes, blockMapAddr); err != nil {
		return nil, fmt.Errorf("msf: block map: %w", err)
	}
	dirList := make([]uint32, dirBlocks)
	for i := range dirList {
		dirList[i] = le.Uint32(mapBytes[4*i:])
	}
	dir, err := f.read(stream{size: dirBytes, blocks: dirList})
	if err != nil {
		return nil, fmt.Errorf("msf: stream directory: %w", err)
	}
	if err := f.parseDirectory(dir); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) blocksFor(size uint32) uint32 {
	return uint32((uint64(size) + uint64(f.blockSize) - 1) / uint64(f.blockSize))
}

func (f *File) parseDirectory(dir []byte) error {
	le := binary.LittleEndian
	n := le.Uint32(dir)
	// Each stream needs at least its 4-byte size in the directory.
	if uint64(n) > uint64(len(dir)-4)/4 {
		return bad("directory claims %d streams in %d bytes", n, len(dir))
	}
	sizes := dir[4 : 4+4*n]
	lists := dir[4+4*n:]
	f.streams = make([]stream, n)
	// Streams never share blocks, so together they cannot need more
	// blocks than the file has: that bounds every stream's size by the
	// file's.
	var total uint64
	for i := range f.streams {
		sz := le.Uint32(sizes[4*i:])
		if sz == nilStreamSize {
			continue
		}
		nb := f.blocksFor(sz)
		if total += uint64(nb); total > uint64(f.numBlocks) {
			return bad("streams 0..%d need %d blocks, the file has %d", i, total, f.numBlocks)
		}
		if uint64(nb)*4 > uint64(len(lists)) {
			return bad("stream %d of %d bytes needs %d blocks, the directory lists %d more", i, sz, nb, len(lists)/4)
		}
		blocks := make([]uint32, nb)
		for j := range blocks {
			b := le.Uint32(lists[4*j:])
			if b >= f.numBlocks || b == 0 {
				return bad("stream %d block %d is block number %d of %d", i, j, b, f.numBlocks)
			}
			blocks[j] = b
		}
		lists = lists[4*nb:]
		f.streams[i] = stream{size: sz, blocks: blocks}
	}
	return nil
}

// readContiguous fills p from consecutive blocks starting at block first.
func (f *File) readContiguous(p []byte, first uint32) error {
	end := uint64(first)*uint64(f.blockSize) + uint64(len(p))
	if first == 0 || first >= f.numBlocks || end > uint64(f.numBlocks)*uint64(f.blockSize) {
		return bad("%d bytes at block %d run past the %d blocks", len(p), first, f.numBlocks)
	}
	_, err := f.r.ReadAt(p, int64(first)*int64(f.blockSize))
	return err
}

// read assembles a stream from its blocks. Its size was already checked
// against its block list, and every block number against the file.
func (f *File) read(s stream) ([]byte, error) {
	out := make([]byte, s.size)
	for i, b := range s.blocks {
		lo := uint64(i) * uint64(f.blockSize)
		hi := min(lo+uint64(f.blockSize), uint64(s.size))
		if b >= f.numBlocks || b == 0 {
			return nil, bad("block number %d of %d", b, f.numBlocks)
		}
		if _, err := f.r.ReadAt(out[lo:hi], int64(b)*int64(f.blockSize)); err != nil {
			return nil, fmt.Errorf("block %d: %w", b, err)
		}
	}
	return out, nil
}

// NumStreams is the number of entries in the stream directory.
func (f *File) NumStreams() int { return len(f.streams) }

// BlockSize is the file's block size in bytes.
func (f *File) BlockSize() uint32 { return f.blockSize }

// StreamSize returns the size of stream i; a missing stream has size 0.
func (f *File) StreamSize(i int) (uint32, error) {
	if i < 0 || i >= len(f.streams) {
		return 0, bad("stream %d of %d", i, len(f.streams))
	}
	return f.streams[i].size, nil
}

// Stream returns the contents of stream i. A nil or empty stream gives an
// empty slice; an index past the directory gives an error.
func (f *File) Stream(i int) ([]byte, error) {
	if i < 0 || i >= len(f.streams) {
		return nil, bad("stream %d of %d", i, len(f.streams))
	}
	b, err := f.read(f.streams[i])
	if err != nil {
		return nil, fmt.Errorf("msf: stream %d: %w", i, err)
	}
	return b, nil
}
