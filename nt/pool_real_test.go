package nt

import (
	"errors"
	"testing"
)

// poolHeader writes a _POOL_HEADER at va on the guest's layout: a block of
// size bytes (a multiple of 16), in use in nonpaged pool.
func (g *guest) poolHeader(va, size uint64, tag string) {
	g.t.Helper()
	g.set("_POOL_HEADER", va, "BlockSize", size/16)
	g.set("_POOL_HEADER", va, "PoolType", 2)
	g.set("_POOL_HEADER", va, "PoolTag", uint64(tag[0])|uint64(tag[1])<<8|uint64(tag[2])<<16|uint64(tag[3])<<24)
}

// pooledObject allocates an object as the object manager does on Windows
// 10: a _POOL_HEADER, then objectInfo's optional headers, header and body,
// all in one block. It returns the object header.
func (g *guest) pooledObject(idx, mask uint64, body, name, tag string) (header, pool uint64) {
	g.t.Helper()
	g.next = (g.next + 15) &^ 15
	pool = g.allocBytes(16)
	header = g.objectInfo(idx, mask, body, name, 0)
	size := (g.next - pool + 15) &^ 15
	g.poolHeader(pool, size, tag)
	return header, pool
}

// TestRealISFObjectPoolBlock: an object's pool block is found below its
// optional headers, whatever InfoMask names, through
// ObpInfoMaskToOffset[InfoMask] and the real _POOL_HEADER's layout
// (BlockSize in 16-byte units).
func TestRealISFObjectPoolBlock(t *testing.T) {
	g := newRealGuest(t)
	g.fillInfoMaskToOffset()
	types := g.objectTypes("Type", "Process", "Mutant", "File")
	k := g.kernel()
	for _, c := range []struct {
		typ, body, tag string
		mask           uint64
	}{
		{"Process", "_EPROCESS", "Proc", 0x00},
		{"Mutant", "_KMUTANT", "Muta", 0x02},
		{"Mutant", "_KMUTANT", "Muta", 0x0b},
		{"File", "_FILE_OBJECT", "File", 0x4c},
	} {
		h, pool := g.pooledObject(types[c.typ], c.mask, c.body, "x", c.tag)
		b, err := k.ObjectPoolBlock(h)
		if err != nil {
			t.Errorf("%s InfoMask %#x: %v", c.typ, c.mask, err)
			continue
		}
		if b.Address != pool || b.Tag != c.tag || b.Size != (g.next-pool+15)&^15 || b.PoolType != 2 {
			t.Errorf("%s InfoMask %#x: block %+v, want %s at %#x", c.typ, c.mask, b, c.tag, pool)
		}
	}
}

// TestRealISFObjectPoolBlockTooSmall: a block that ends before the object
// header it should hold is refused, not reported as the object's.
func TestRealISFObjectPoolBlockTooSmall(t *testing.T) {
	g := newRealGuest(t)
	g.fillInfoMaskToOffset()
	types := g.objectTypes("Type", "Mutant")
	h, pool := g.pooledObject(types["Mutant"], 0x02, "_KMUTANT", "m", "Muta")
	g.poolHeader(pool, 0x20, "Muta")
	if b, err := g.kernel().ObjectPoolBlock(h); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ObjectPoolBlock = %+v, %v; want ErrCorrupt", b, err)
	}
	g.poolHeader(pool, 0, "Muta")
	if b, err := g.kernel().ObjectPoolBlock(h); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a block of size 0: %+v, %v; want ErrCorrupt", b, err)
	}
}

// TestRealISFBigPoolAllocations: PoolBigPageTable's entries in use are
// listed with their tag and size; free ones (Va bit 0) and never-used ones
// (Va 0) are not. Windows 10's entry is 24 bytes: no ProcessBilled.
func TestRealISFBigPoolAllocations(t *testing.T) {
	g := newRealGuest(t)
	const n = 8
	size := g.size("_POOL_TRACKER_BIG_PAGES")
	table := g.allocBytes(n * size)
	g.mem.write(g.global("PoolBigPageTable"), le(table))
	g.mem.write(g.global("PoolBigPageTableSize"), le(n))
	entry := func(i, va uint64, tag string, bytes uint64) {
		at := table + i*size
		g.set("_POOL_TRACKER_BIG_PAGES", at, "Va", va)
		g.set("_POOL_TRACKER_BIG_PAGES", at, "Key", uint64(tag[0])|uint64(tag[1])<<8|uint64(tag[2])<<16|uint64(tag[3])<<24)
		g.set("_POOL_TRACKER_BIG_PAGES", at, "NumberOfBytes", bytes)
	}
	entry(1, 0xffffa00000200000, "Obtb", 0x1000)
	entry(2, 0xffffa00000300001, "Free", 0x2000) // freed
	entry(5, 0xffffa00000400000, "MmSt", 0x3000)
	got, err := g.kernel().BigPoolAllocations()
	if err != nil {
		t.Fatal(err)
	}
	want := []BigPoolAllocation{
		{VA: 0xffffa00000200000, Tag: "Obtb", Bytes: 0x1000, Entry: table + size},
		{VA: 0xffffa00000400000, Tag: "MmSt", Bytes: 0x3000, Entry: table + 5*size},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("BigPoolAllocations = %+v, want %+v", got, want)
	}
	g.mem.write(g.global("PoolBigPageTableSize"), le(maxBigPages+1))
	if _, err := g.kernel().BigPoolAllocations(); !errors.Is(err, ErrTooLong) {
		t.Errorf("a table of %d entries: %v, want ErrTooLong", maxBigPages+1, err)
	}
}

func TestPoolTagSpelling(t *testing.T) {
	for tag, want := range map[uint32]string{0x636f7250: "Proc", 0x20646156: "Vad ", 0x0001ff41: "A..."} {
		if got := poolTag(tag); got != want {
			t.Errorf("poolTag(%#x) = %q, want %q", tag, got, want)
		}
	}
}
