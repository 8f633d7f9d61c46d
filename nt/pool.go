package nt

import (
	"errors"
	"fmt"
)

// PoolBlock is the small pool block an object was allocated in, from the
// _POOL_HEADER at its start: what pool scanners (psscan, filescan,
// mutantscan) find by its tag.
type PoolBlock struct {
	Address  uint64 // of the _POOL_HEADER
	Tag      string // PoolTag, 4 bytes as text: "Proc", "File", "Vad "
	Size     uint64 // BlockSize in bytes, the header included
	PoolType uint64 // as stored: 0 for a free block
}

// ObjectPoolBlock reads the pool block of the object whose _OBJECT_HEADER
// is at header. The object manager allocates the optional headers, the
// object header and the body as one block, the optional headers first, so
// the block's _POOL_HEADER ends ObpInfoMaskToOffset[InfoMask] bytes below
// the object header (every optional header's size). BlockSize counts
// units of the header's own size (16 bytes on x64, 8 on x86).
func (k *Kernel) ObjectPoolBlock(header uint64) (PoolBlock, error) {
	o, err := k.readObject("_OBJECT_HEADER", k.dtb, header)
	if err != nil {
		return PoolBlock{}, err
	}
	mask, err := o.uint("InfoMask")
	if err != nil {
		return PoolBlock{}, err
	}
	table, err := k.global("ObpInfoMaskToOffset")
	if err != nil {
		return PoolBlock{}, err
	}
	var off [1]byte
	if err := k.read("ObpInfoMaskToOffset", k.dtb, table+mask&0xff, off[:]); err != nil {
		return PoolBlock{}, err
	}
	unit, err := k.lay.size("_POOL_HEADER")
	if err != nil {
		return PoolBlock{}, err
	}
	at := header - uint64(off[0]) - unit
	b, err := k.poolBlockAt(at, unit)
	if err != nil {
		return b, err
	}
	if at+b.Size <= header {
		return b, &WalkError{What: "pool block", At: at, Err: ErrCorrupt,
			Msg: fmt.Sprintf("a %#x-byte block does not hold the object header at %#x", b.Size, header)}
	}
	return b, nil
}

// PoolBlockAt reads the _POOL_HEADER at va.
func (k *Kernel) PoolBlockAt(va uint64) (PoolBlock, error) {
	unit, err := k.lay.size("_POOL_HEADER")
	if err != nil {
		return PoolBlock{}, err
	}
	return k.poolBlockAt(va, unit)
}

func (k *Kernel) poolBlockAt(va, unit uint64) (PoolBlock, error) {
	ph, err := k.readObject("_POOL_HEADER", k.dtb, va)
	if err != nil {
		return PoolBlock{}, err
	}
	b := PoolBlock{Address: va}
	units, err := ph.uint("BlockSize")
	if err != nil {
		return b, err
	}
	if b.PoolType, err = ph.uint("PoolType"); err != nil {
		return b, err
	}
	tag, err := ph.uint("PoolTag")
	if err != nil {
		return b, err
	}
	b.Tag = poolTag(uint32(tag))
	b.Size = units * unit
	if units == 0 {
		return b, &WalkError{What: "pool block", At: va, Err: ErrCorrupt, Msg: "BlockSize is 0"}
	}
	return b, nil
}

// poolTag spells a tag as Windows tools print it: its four bytes in
// memory order, a byte outside printable ASCII as '.'.
func poolTag(t uint32) string {
	b := []byte{byte(t), byte(t >> 8), byte(t >> 16), byte(t >> 24)}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '.'
		}
	}
	return string(b)
}

// BigPoolAllocation is an in-use entry of PoolBigPageTable: an allocation
// of a page or more, which carries no _POOL_HEADER of its own.
type BigPoolAllocation struct {
	VA    uint64
	Tag   string
	Bytes uint64
	Entry uint64 // the _POOL_TRACKER_BIG_PAGES
}

// maxBigPages bounds PoolBigPageTableSize: Windows sizes the table from
// RAM, a few hundred thousand entries at most.
const maxBigPages = 1 << 22

// ErrNoBigPageTable: the build has no PoolBigPageTable.
var ErrNoBigPageTable = errors.New("nt: the kernel has no PoolBigPageTable")

// BigPoolAllocations lists PoolBigPageTable's in-use entries (Va with
// bit 0 clear and not 0), in table order.
func (k *Kernel) BigPoolAllocations() ([]BigPoolAllocation, error) {
	tableVar, err1 := k.global("PoolBigPageTable")
	sizeVar, err2 := k.global("PoolBigPageTableSize")
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoBigPageTable, errors.Join(err1, err2))
	}
	table, err := k.pointer("PoolBigPageTable", tableVar)
	if err != nil {
		return nil, err
	}
	n, err := k.pointer("PoolBigPageTableSize", sizeVar)
	if err != nil {
		return nil, err
	}
	if n > maxBigPages {
		return nil, &WalkError{What: "PoolBigPageTable", At: table, Err: ErrTooLong, Msg: fmt.Sprintf("%d entries", n)}
	}
	size, err := k.lay.size("_POOL_TRACKER_BIG_PAGES")
	if err != nil {
		return nil, err
	}
	// One read for the whole table: it is a few pages, and an entry at a
	// time would be thousands of reads.
	buf := make([]byte, n*size)
	if err := k.read("PoolBigPageTable", k.dtb, table, buf); err != nil {
		return nil, err
	}
	var out []BigPoolAllocation
	for i := uint64(0); i < n; i++ {
		e := &object{k: k, typ: "_POOL_TRACKER_BIG_PAGES", va: table + i*size, buf: buf[i*size : (i+1)*size]}
		va, err := e.uint("Va")
		if err != nil {
			return nil, err
		}
		if va == 0 || va&1 != 0 {
			continue // never used, or freed
		}
		a := BigPoolAllocation{VA: va, Entry: e.va}
		key, err := e.uint("Key")
		if err != nil {
			return nil, err
		}
		a.Tag = poolTag(uint32(key))
		if a.Bytes, err = e.uint("NumberOfBytes"); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
