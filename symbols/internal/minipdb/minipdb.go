// Package minipdb writes small, valid PDB files for tests: an MSF 7.00
// container around an info stream, a DBI stream and a TPI stream, with
// optional sections, publics and raw type records. The symbol store tests
// use it for PDBs of any GUID and age; the fuzz targets seed from it.
package minipdb

import (
	"encoding/binary"

	"github.com/frostvmi/frost/symbols"
)

// Public is an S_PUB32 record: section (1-based) and offset.
type Public struct {
	Name    string
	Section uint16
	Offset  uint32
}

// Section is an image section header, as the DBI's section stream holds.
type Section struct {
	Name string
	VA   uint32
	Size uint32
}

// PDB describes the file to write.
type PDB struct {
	GUID     symbols.GUID
	Age      uint32 // DBI age (what an image's RSDS carries)
	InfoAge  uint32 // info stream age; 0 means Age
	Sections []Section
	Publics  []Public
	Types    [][]byte // TPI records from index 0x1000: leaf kind and body, without the length
	// RawTypes, if set, is the TPI record area as is (lengths included),
	// for fuzzing; the header claims one index per 4 bytes.
	RawTypes  []byte
	BlockSize uint32 // 0 means 4096
}

var le = binary.LittleEndian

// Bytes returns the PDB file.
func (p *PDB) Bytes() []byte {
	infoAge := p.InfoAge
	if infoAge == 0 {
		infoAge = p.Age
	}
	info := make([]byte, 28, 48)
	le.PutUint32(info[0:], 20000404)
	le.PutUint32(info[4:], 0x5eed)
	le.PutUint32(info[8:], infoAge)
	copy(info[12:], p.GUID[:])
	// An empty named stream map: string bytes, size, capacity, present and
	// deleted bit vectors.
	info = le.AppendUint32(info, 0)
	info = le.AppendUint32(info, 0)
	info = le.AppendUint32(info, 1)
	info = le.AppendUint32(info, 0)
	info = le.AppendUint32(info, 0)

	var recs []byte
	for _, t := range p.Types {
		recs = le.AppendUint16(recs, uint16(len(t)))
		recs = append(recs, t...)
	}
	count := uint32(len(p.Types))
	if p.RawTypes != nil {
		recs, count = p.RawTypes, uint32(len(p.RawTypes)/4)
	}
	tpi := make([]byte, 56)
	le.PutUint32(tpi[0:], 20040203)
	le.PutUint32(tpi[4:], 56)
	le.PutUint32(tpi[8:], 0x1000)
	le.PutUint32(tpi[12:], 0x1000+count)
	le.PutUint32(tpi[16:], uint32(len(recs)))
	le.PutUint16(tpi[20:], 0xffff)
	le.PutUint16(tpi[22:], 0xffff)
	le.PutUint32(tpi[24:], 4)       // hash key size
	le.PutUint32(tpi[28:], 0x3ffff) // hash buckets
	tpi = append(tpi, recs...)

	var secs []byte
	for _, s := range p.Sections {
		h := make([]byte, 40)
		copy(h, s.Name)
		le.PutUint32(h[8:], s.Size)
		le.PutUint32(h[12:], s.VA)
		secs = append(secs, h...)
	}
	var syms []byte
	for _, pub := range p.Publics {
		body := le.AppendUint16(nil, 0x110e)
		body = le.AppendUint32(body, 0)
		body = le.AppendUint32(body, pub.Offset)
		body = le.AppendUint16(body, pub.Section)
		body = append(body, pub.Name...)
		body = append(body, 0)
		for (len(body)+2)%4 != 0 {
			body = append(body, 0)
		}
		syms = le.AppendUint16(syms, uint16(len(body)))
		syms = append(syms, body...)
	}

	// Streams: 0 old directory, 1 info, 2 TPI, 3 DBI, 4 IPI (empty),
	// 5 section headers, 6 symbol records.
	// One module (LLVM's reader wants at least one), an empty section
	// contribution list, an empty section map and the module's file info.
	mod := make([]byte, 64)
	le.PutUint16(mod[34:], 0xffff) // no module symbol stream
	mod = append(mod, "mini.obj\x00mini.obj\x00"...)
	for len(mod)%4 != 0 {
		mod = append(mod, 0)
	}
	secContr := le.AppendUint32(nil, 0xeffe0000+19970605)
	secMap := make([]byte, 4)
	fileInfo := []byte{1, 0, 0, 0, 0, 0, 0, 0}

	dbi := make([]byte, 64)
	le.PutUint32(dbi[0:], 0xffffffff)
	le.PutUint32(dbi[4:], 19990903)
	le.PutUint32(dbi[8:], p.Age)
	le.PutUint16(dbi[12:], 0xffff)
	le.PutUint16(dbi[16:], 0xffff)
	le.PutUint16(dbi[20:], 6)
	dbg := make([]byte, 22)
	for i := 0; i < 11; i++ {
		le.PutUint16(dbg[2*i:], 0xffff)
	}
	le.PutUint16(dbg[10:], 5)
	le.PutUint32(dbi[24:], uint32(len(mod)))
	le.PutUint32(dbi[28:], uint32(len(secContr)))
	le.PutUint32(dbi[32:], uint32(len(secMap)))
	le.PutUint32(dbi[36:], uint32(len(fileInfo)))
	le.PutUint32(dbi[48:], uint32(len(dbg)))
	le.PutUint16(dbi[58:], 0x8664)
	for _, sub := range [][]byte{mod, secContr, secMap, fileInfo, dbg} {
		dbi = append(dbi, sub...)
	}

	return MSF(p.BlockSize, [][]byte{nil, info, tpi, dbi, nil, secs, syms})
}

// MSF lays streams out in an MSF 7.00 file with the given block size
// (0 means 4096).
func MSF(blockSize uint32, streams [][]byte) []byte {
	if blockSize == 0 {
		blockSize = 4096
	}
	bs := int(blockSize)
	blocks := func(n int) int { return (n + bs - 1) / bs }
	// Block 0 superblock, 1-2 free block maps, 3 the block map, then
	// streams, then the directory.
	next := 4
	var dir []byte
	dir = le.AppendUint32(dir, uint32(len(streams)))
	for _, s := range streams {
		dir = le.AppendUint32(dir, uint32(len(s)))
	}
	var lists []byte
	var body []byte
	for _, s := range streams {
		for i := 0; i < blocks(len(s)); i++ {
			lists = le.AppendUint32(lists, uint32(next))
			next++
			chunk := make([]byte, bs)
			copy(chunk, s[i*bs:])
			body = append(body, chunk...)
		}
	}
	dir = append(dir, lists...)
	dirFirst := next
	next += blocks(len(dir))
	out := make([]byte, next*bs)
	copy(out, "Microsoft C/C++ MSF 7.00\r\n\x1aDS\x00\x00\x00")
	le.PutUint32(out[32:], blockSize)
	le.PutUint32(out[36:], 1)
	le.PutUint32(out[40:], uint32(next))
	le.PutUint32(out[44:], uint32(len(dir)))
	le.PutUint32(out[52:], 3)
	for i := 0; i < blocks(len(dir)); i++ {
		le.PutUint32(out[3*bs+4*i:], uint32(dirFirst+i))
	}
	copy(out[4*bs:], body)
	copy(out[dirFirst*bs:], dir)
	return out
}
