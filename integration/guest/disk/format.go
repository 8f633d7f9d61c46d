package disk

import (
	"encoding/binary"
)

// On-disk constants of the C: volume, as fixed by integration/guest/README.md.
const (
	SectorSize = 512

	// Magic opens the superblock at byte 0 of the image.
	Magic = "FROSTFS1"
	// Version is the only superblock version this package understands.
	Version = 1

	// EntrySize is the size of one file-table entry; four fit a sector.
	EntrySize = 128
	// NameSize is the width of an entry's NUL-padded name field.
	NameSize = 88

	// standardTableLBA and standardTableSectors are what the writer lays
	// down: the table right after the superblock, 8 sectors, 32 entries.
	standardTableLBA     = 1
	standardTableSectors = 8

	// maxTableSectors caps the table a reader will walk, so a hostile
	// superblock cannot make it read gigabytes of "entries".
	maxTableSectors = 64

	// FlagExists is bit 0 of an entry's flags: the file exists. An entry
	// without it is reserved: it owns its extent but holds no file yet.
	FlagExists = 1 << 0
)

// Superblock field offsets.
const (
	sbMagic        = 0x00
	sbVersion      = 0x08
	sbTableLBA     = 0x0c
	sbTableSectors = 0x10
	sbImageSize    = 0x18
	sbEnd          = 0x20
)

// File-table entry field offsets.
const (
	entName     = 0x00
	entFlags    = 0x58
	entOffset   = 0x60
	entCapacity = 0x68
	entSize     = 0x70
)

// superblock is the decoded LBA 0.
type superblock struct {
	version      uint32
	tableLBA     uint32
	tableSectors uint32
	imageSize    uint64
}

func (sb superblock) encode() []byte {
	b := make([]byte, SectorSize)
	copy(b[sbMagic:], Magic)
	binary.LittleEndian.PutUint32(b[sbVersion:], sb.version)
	binary.LittleEndian.PutUint32(b[sbTableLBA:], sb.tableLBA)
	binary.LittleEndian.PutUint32(b[sbTableSectors:], sb.tableSectors)
	binary.LittleEndian.PutUint64(b[sbImageSize:], sb.imageSize)
	return b
}

// encodeEntry writes e into the 128-byte slot b. The caller has checked that
// the name fits.
func encodeEntry(b []byte, e Entry) {
	clear(b[:EntrySize])
	copy(b[entName:entName+NameSize], e.Name)
	binary.LittleEndian.PutUint32(b[entFlags:], e.Flags)
	binary.LittleEndian.PutUint64(b[entOffset:], e.Offset)
	binary.LittleEndian.PutUint64(b[entCapacity:], e.Capacity)
	binary.LittleEndian.PutUint64(b[entSize:], e.Size)
}
