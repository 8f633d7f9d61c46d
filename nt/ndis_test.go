package nt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/store"
)

// miniNTPDB opens a mini-NT PDB once per test binary; an error when it is
// not built or predates NDIS.
func miniNTPDB(path string) (*symbols.Table, error) {
	pdbMu.Lock()
	defer pdbMu.Unlock()
	if r, ok := pdbs[path]; ok {
		return r.tab, r.err
	}
	tab, err := func() (*symbols.Table, error) {
		if _, err := os.Stat(path); err != nil {
			return nil, err
		}
		tab, err := store.OpenFile(path)
		if err != nil {
			return nil, err
		}
		if _, err := tab.Size("_NET_BUFFER_LIST"); err != nil {
			return nil, fmt.Errorf("built before NDIS: %w", err)
		}
		return tab, nil
	}()
	pdbs[path] = pdbResult{tab, err}
	return tab, err
}

type pdbResult struct {
	tab *symbols.Table
	err error
}

var (
	pdbMu sync.Mutex
	pdbs  = map[string]pdbResult{}
)

// ndisTypes adds NET_BUFFER_LIST, NET_BUFFER and MDL to b, Windows' names
// and members. nested puts the list and buffer members in the headers
// ndis.h nests them in (NetBufferListHeader.NetBufferListData.Next) rather
// than hoisted into the type.
func ndisTypes(b *symBuilder, nested bool) {
	b.strct("_MDL", ptrM("Next"), uintM("Size", 2), uintM("MdlFlags", 2), ptrM("Process"), ptrM("MappedSystemVa"),
		ptrM("StartVa"), uintM("ByteCount", 4), uintM("ByteOffset", 4))
	nbMembers := []member{ptrM("Next"), ptrM("CurrentMdl"), uintM("CurrentMdlOffset", 4), uintM("DataLength", 4), ptrM("MdlChain"), uintM("DataOffset", 4)}
	nblMembers := []member{ptrM("Next"), ptrM("FirstNetBuffer")}
	if nested {
		b.strct("_NET_BUFFER_DATA", nbMembers...)
		b.strct("_NET_BUFFER_HEADER", b.subM("NetBufferData", "_NET_BUFFER_DATA"), ptrM("Link"))
		b.strct("_NET_BUFFER", b.subM("NetBufferHeader", "_NET_BUFFER_HEADER"), ptrM("ChecksumBias"), ptrM("NdisPoolHandle"))
		b.strct("_NET_BUFFER_LIST_DATA", nblMembers...)
		b.strct("_NET_BUFFER_LIST_HEADER", b.subM("NetBufferListData", "_NET_BUFFER_LIST_DATA"))
		b.strct("_NET_BUFFER_LIST", b.subM("NetBufferListHeader", "_NET_BUFFER_LIST_HEADER"), ptrM("Context"), ptrM("SourceHandle"))
		return
	}
	b.strct("_NET_BUFFER", append(nbMembers, ptrM("ChecksumBias"), ptrM("NdisPoolHandle"))...)
	b.strct("_NET_BUFFER_LIST", append(nblMembers, ptrM("Context"), ptrM("SourceHandle"))...)
}

// ndisSymbols is the kernel's test table with the NDIS types in it, as
// mini-NT has them.
func ndisSymbols(t testing.TB, reversed, nested bool) *symbols.Table {
	// The kernel's test types (a process's DTB for an MDL's Process),
	// extended.
	b := newSymBuilder(reversed)
	b.d = testSymbols(t, reversed).Data()
	ndisTypes(b, nested)
	return b.table(t)
}

// spaces is virtual memory with address spaces: the kernel half is shared,
// the user half is per DTB.
type spaces struct {
	kernel *fakeMemory
	user   map[uint64]*fakeMemory
}

func (s *spaces) of(dtb, va uint64) (*fakeMemory, error) {
	if va >= kernelHalfStart {
		return s.kernel, nil
	}
	m, ok := s.user[dtb]
	if !ok {
		return nil, fmt.Errorf("fake: no address space %#x", dtb)
	}
	return m, nil
}

func (s *spaces) ReadVirtual(dtb, va uint64, p []byte) error {
	m, err := s.of(dtb, va)
	if err != nil {
		return err
	}
	return m.ReadVirtual(dtb, va, p)
}

// ndisGuest is a guest with NDIS structures laid out through its symbols.
type ndisGuest struct {
	*guest
	sp *spaces
}

func newNdisGuest(t testing.TB, reversed, nested bool) *ndisGuest {
	return newNdisGuestOn(t, ndisSymbols(t, reversed, nested))
}

// newNdisGuestOn lays the guest out through tab (a real PDB's layout),
// PsActiveProcessHead mapped.
func newNdisGuestOn(t testing.TB, tab *symbols.Table) *ndisGuest {
	g := &guest{t: t, tab: tab, mem: newFakeMemory(), next: 0xffffa00000010000}
	g.mem.write(testKernelBase, make([]byte, 0x4000))
	if rva, err := tab.Address("PsActiveProcessHead"); err == nil {
		g.mem.write(testKernelBase+rva, make([]byte, 16))
	}
	return &ndisGuest{guest: g, sp: &spaces{kernel: g.mem, user: map[uint64]*fakeMemory{}}}
}

func (g *ndisGuest) kernel() *Kernel {
	k, err := NewKernel(KernelConfig{Base: testKernelBase, Symbols: g.tab, DTB: 0x1000, Memory: g.sp})
	if err != nil {
		g.t.Fatal(err)
	}
	return k
}

func (g *ndisGuest) layout() *NetLayout {
	l, err := NewNetLayout(nil, g.tab)
	if err != nil {
		g.t.Fatal(err)
	}
	return l
}

// set writes a member by Windows' name, nested or not.
func (g *ndisGuest) setM(typ string, va uint64, name string, v uint64) {
	g.t.Helper()
	paths := map[string][]string{"_NET_BUFFER_LIST": nblPaths[name], "_NET_BUFFER": nbPaths[name]}[typ]
	if paths == nil {
		paths = []string{name}
	}
	for _, p := range paths {
		if _, err := g.tab.Field(typ + "." + p); err == nil {
			g.set(typ, va, p, v)
			return
		}
	}
	g.t.Fatalf("%s has no %s", typ, name)
}

// mdl makes an MDL of data at a fresh kernel buffer (mapped: true sets
// MappedSystemVa, else StartVa and ByteOffset describe it).
func (g *ndisGuest) mdl(data []byte, mapped bool) uint64 {
	buf := g.allocBytes(uint64(len(data)) + 0x20)
	g.mem.write(buf+0x10, data)
	m := g.alloc("_MDL")
	g.setM("_MDL", m, "ByteCount", uint64(len(data)))
	if mapped {
		g.setM("_MDL", m, "MappedSystemVa", buf+0x10)
		g.setM("_MDL", m, "StartVa", 0x1234000) // not used when mapped
	} else {
		g.setM("_MDL", m, "StartVa", (buf+0x10)&^0xfff)
		g.setM("_MDL", m, "ByteOffset", (buf+0x10)&0xfff)
	}
	return m
}

func (g *ndisGuest) chain(mdls ...uint64) uint64 {
	for i := 0; i+1 < len(mdls); i++ {
		g.setM("_MDL", mdls[i], "Next", mdls[i+1])
	}
	return mdls[0]
}

func (g *ndisGuest) nb(mdl, off, length uint64) uint64 {
	nb := g.alloc("_NET_BUFFER")
	g.setM("_NET_BUFFER", nb, "CurrentMdl", mdl)
	g.setM("_NET_BUFFER", nb, "CurrentMdlOffset", off)
	g.setM("_NET_BUFFER", nb, "DataLength", length)
	return nb
}

func (g *ndisGuest) nbl(nbs ...uint64) uint64 {
	l := g.alloc("_NET_BUFFER_LIST")
	g.setM("_NET_BUFFER_LIST", l, "FirstNetBuffer", nbs[0])
	for i := 0; i+1 < len(nbs); i++ {
		g.setM("_NET_BUFFER", nbs[i], "Next", nbs[i+1])
	}
	return l
}

// forNdisLayouts runs a test on the builder's layouts (declared and
// reversed, members hoisted or nested in their headers), and on mini-NT's
// real PDBs (normal and reorder builds) when the guest is built.
func forNdisLayouts(t *testing.T, fn func(t *testing.T, g *ndisGuest)) {
	for _, dir := range []string{"", "reorder"} {
		path := filepath.Join("..", "integration", "guest", "out", dir, "ntkrnlmp.pdb")
		tab, err := miniNTPDB(path)
		if err != nil {
			t.Logf("mini-NT's PDB %s: %v (make guest builds it)", path, err)
			continue
		}
		t.Run("mini-NT "+path, func(t *testing.T) { fn(t, newNdisGuestOn(t, tab)) })
	}
	for _, rev := range []bool{false, true} {
		for _, nested := range []bool{false, true} {
			t.Run(fmt.Sprintf("reversed=%v/nested=%v", rev, nested), func(t *testing.T) {
				fn(t, newNdisGuest(t, rev, nested))
			})
		}
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func TestNetBufferListsOneFrame(t *testing.T) {
	forNdisLayouts(t, func(t *testing.T, g *ndisGuest) {
		data := pattern(60, 1)
		head := g.nbl(g.nb(g.mdl(data, true), 0, 60))
		frames, err := g.kernel().NetBufferLists(g.layout(), 0x1000, head, NetLimits{})
		if err != nil {
			t.Fatal(err)
		}
		if len(frames) != 1 || frames[0].Err != nil || !bytes.Equal(frames[0].Data, data) || frames[0].NBL != head {
			t.Fatalf("frames = %+v", frames)
		}
	})
}

// A frame that starts into its first MDL and spans three more, one of them
// empty, the last longer than the frame needs.
func TestNetBufferListsSpanningMDLs(t *testing.T) {
	forNdisLayouts(t, func(t *testing.T, g *ndisGuest) {
		a, b, c := pattern(100, 1), pattern(40, 50), pattern(300, 90)
		m := g.chain(g.mdl(a, true), g.mdl(nil, true), g.mdl(b, false), g.mdl(c, true))
		want := append(append(append([]byte{}, a[14:]...), b...), c[:200]...)
		head := g.nbl(g.nb(m, 14, uint64(len(want))))
		frames, err := g.kernel().NetBufferLists(g.layout(), 0x1000, head, NetLimits{})
		if err != nil {
			t.Fatal(err)
		}
		if len(frames) != 1 || frames[0].Err != nil || !bytes.Equal(frames[0].Data, want) {
			t.Fatalf("frames = %+v", frames)
		}
	})
}

// Chained lists of several buffers each come back in chain order.
func TestNetBufferListsChained(t *testing.T) {
	forNdisLayouts(t, func(t *testing.T, g *ndisGuest) {
		var want [][]byte
		var lists []uint64
		for l := 0; l < 3; l++ {
			var nbs []uint64
			for n := 0; n < 2; n++ {
				d := pattern(42+l*10+n, byte(l*16+n))
				want = append(want, d)
				nbs = append(nbs, g.nb(g.mdl(d, true), 0, uint64(len(d))))
			}
			lists = append(lists, g.nbl(nbs...))
		}
		for i := 0; i+1 < len(lists); i++ {
			g.setM("_NET_BUFFER_LIST", lists[i], "Next", lists[i+1])
		}
		frames, err := g.kernel().NetBufferLists(g.layout(), 0x1000, lists[0], NetLimits{})
		if err != nil {
			t.Fatal(err)
		}
		if len(frames) != len(want) {
			t.Fatalf("%d frames, want %d", len(frames), len(want))
		}
		for i, f := range frames {
			if f.Err != nil || !bytes.Equal(f.Data, want[i]) || f.Index != i || f.NBL != lists[i/2] {
				t.Errorf("frame %d = %+v", i, f)
			}
		}
	})
}

// An MDL of user memory is read in its Process's address space, or in the
// current one when it names no process.
func TestNetBufferListsUserMDL(t *testing.T) {
	forNdisLayouts(t, func(t *testing.T, g *ndisGuest) {
		g.initList(g.global("PsActiveProcessHead"))
		ep := g.process(77, 4, 0x5000, "netclient.exe")
		theirs, cur := newFakeMemory(), newFakeMemory()
		g.sp.user[0x5000], g.sp.user[0x9000] = theirs, cur
		mine, other := pattern(70, 3), pattern(70, 9)
		theirs.write(0x10010, mine)
		cur.write(0x10010, other)
		mk := func(proc uint64) uint64 {
			m := g.alloc("_MDL")
			g.setM("_MDL", m, "StartVa", 0x10000)
			g.setM("_MDL", m, "ByteOffset", 0x10)
			g.setM("_MDL", m, "ByteCount", 70)
			g.setM("_MDL", m, "Process", proc)
			return m
		}
		l1 := g.nbl(g.nb(mk(ep), 0, 70))
		l2 := g.nbl(g.nb(mk(0), 0, 70))
		g.setM("_NET_BUFFER_LIST", l1, "Next", l2)
		frames, err := g.kernel().NetBufferLists(g.layout(), 0x9000, l1, NetLimits{})
		if err != nil {
			t.Fatal(err)
		}
		if len(frames) != 2 || !bytes.Equal(frames[0].Data, mine) || !bytes.Equal(frames[1].Data, other) {
			t.Fatalf("frames = %+v", frames)
		}
	})
}

// A frame whose second MDL's page is not mapped is an error naming that
// MDL and the read, with no bytes; the frames around it are read.
func TestNetBufferListsUnreadableMDL(t *testing.T) {
	forNdisLayouts(t, func(t *testing.T, g *ndisGuest) {
		ok1, ok2 := pattern(60, 1), pattern(60, 2)
		bad := g.mdl(pattern(50, 3), false)
		g.setM("_MDL", bad, "StartVa", 0xffffb00000000000) // nothing there
		g.setM("_MDL", bad, "ByteOffset", 0)
		badChain := g.chain(g.mdl(pattern(20, 4), true), bad)
		head := g.nbl(g.nb(g.mdl(ok1, true), 0, 60), g.nb(badChain, 0, 70), g.nb(g.mdl(ok2, true), 0, 60))
		frames, err := g.kernel().NetBufferLists(g.layout(), 0x1000, head, NetLimits{})
		if err != nil {
			t.Fatal(err)
		}
		if len(frames) != 3 || !bytes.Equal(frames[0].Data, ok1) || !bytes.Equal(frames[2].Data, ok2) {
			t.Fatalf("frames = %+v", frames)
		}
		var fe *FrameError
		var re *ReadError
		if !errors.As(frames[1].Err, &fe) || fe.MDL != 1 || fe.MDLAddr != bad || fe.Offset != 20 || !errors.As(fe, &re) || re.VA != 0xffffb00000000000 {
			t.Fatalf("frame 1 error = %v", frames[1].Err)
		}
		if frames[1].Data != nil {
			t.Fatalf("an unreadable frame carries %d bytes", len(frames[1].Data))
		}
	})
}

func TestNetBufferListsBadFrames(t *testing.T) {
	forNdisLayouts(t, func(t *testing.T, g *ndisGuest) {
		short := g.mdl(pattern(30, 1), true)
		loop := g.mdl(pattern(30, 2), true)
		g.setM("_MDL", loop, "Next", loop)
		cases := []struct {
			name string
			nb   uint64
			want error
			mdl  int
		}{
			{"chain short", g.nb(short, 0, 31), ErrCorrupt, 1},
			{"offset past ByteCount", g.nb(short, 31, 1), ErrCorrupt, 0},
			{"zero length", g.nb(short, 0, 0), ErrCorrupt, -1},
			{"too long", g.nb(short, 0, MaxNetFrame+1), ErrTooLong, -1},
			{"no MDL", g.nb(0, 0, 10), ErrCorrupt, -1},
			{"MDL cycle", g.nb(loop, 0, 31), ErrCycle, 1},
		}
		for _, c := range cases {
			frames, err := g.kernel().NetBufferLists(g.layout(), 0x1000, g.nbl(c.nb), NetLimits{})
			if err != nil || len(frames) != 1 {
				t.Fatalf("%s: %v, %d frames", c.name, err, len(frames))
			}
			var fe *FrameError
			if !errors.As(frames[0].Err, &fe) || !errors.Is(fe, c.want) || fe.MDL != c.mdl || frames[0].Data != nil {
				t.Errorf("%s: error %v (want %v at MDL %d)", c.name, frames[0].Err, c.want, c.mdl)
			}
		}
	})
}

func TestNetBufferListsChainBounds(t *testing.T) {
	forNdisLayouts(t, func(t *testing.T, g *ndisGuest) {
		k, l := g.kernel(), g.layout()
		d := pattern(20, 1)
		// A list that is its own successor.
		a := g.nbl(g.nb(g.mdl(d, true), 0, 20))
		g.setM("_NET_BUFFER_LIST", a, "Next", a)
		frames, err := k.NetBufferLists(l, 0x1000, a, NetLimits{})
		if !errors.Is(err, ErrCycle) || len(frames) != 1 {
			t.Errorf("NBL cycle: %v, %d frames", err, len(frames))
		}
		// A buffer that is its own successor.
		nb := g.nb(g.mdl(d, true), 0, 20)
		g.setM("_NET_BUFFER", nb, "Next", nb)
		if _, err := k.NetBufferLists(l, 0x1000, g.nbl(nb), NetLimits{}); !errors.Is(err, ErrCycle) {
			t.Errorf("NB cycle: %v", err)
		}
		// Three lists against a bound of two.
		x, y, z := g.nbl(g.nb(g.mdl(d, true), 0, 20)), g.nbl(g.nb(g.mdl(d, true), 0, 20)), g.nbl(g.nb(g.mdl(d, true), 0, 20))
		g.setM("_NET_BUFFER_LIST", x, "Next", y)
		g.setM("_NET_BUFFER_LIST", y, "Next", z)
		frames, err = k.NetBufferLists(l, 0x1000, x, NetLimits{NBLs: 2})
		if !errors.Is(err, ErrTooLong) || len(frames) != 2 {
			t.Errorf("NBL bound: %v, %d frames", err, len(frames))
		}
		// A list that cannot be read at all.
		if _, err := k.NetBufferLists(l, 0x1000, 0xffffb00000000000, NetLimits{}); !errors.As(err, new(*ReadError)) {
			t.Errorf("unreadable list: %v", err)
		}
		if _, err := k.NetBufferLists(l, 0x1000, 0, NetLimits{}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("NULL list: %v", err)
		}
	})
}

// The layout takes a type from the module's PDB before the kernel's, and
// names what is missing.
func TestNewNetLayout(t *testing.T) {
	kern := newSymBuilder(false)
	ndisTypes(kern, false)
	kt := kern.table(t)
	mod := newSymBuilder(true)
	ndisTypes(mod, true)
	delete(mod.d.UserTypes, "_MDL")
	mt := mod.table(t)
	l, err := NewNetLayout(mt, kt)
	if err != nil {
		t.Fatal(err)
	}
	if l.nblFrom != "module" || l.nbFrom != "module" || l.mdlFrom != "kernel" {
		t.Errorf("from %s", l)
	}
	nested, _ := mt.Field("_NET_BUFFER.NetBufferHeader.NetBufferData.DataLength")
	if l.nbLen.Offset != nested.Offset {
		t.Errorf("DataLength at %#x, want the module's %#x", l.nbLen.Offset, nested.Offset)
	}
	none := newSymBuilder(false)
	none.strct("_MDL", ptrM("Next"))
	if _, err := NewNetLayout(nil, none.table(t)); !errors.As(err, new(*SymbolError)) {
		t.Errorf("no NBL type: %v", err)
	}
	ndisTypes(none, false)
	none.strct("_MDL", ptrM("Next"), uintM("ByteCount", 4))
	_, err = NewNetLayout(nil, none.table(t))
	var se *SymbolError
	if !errors.As(err, &se) || !bytes.Contains([]byte(se.Need), []byte("_MDL.Process")) {
		t.Errorf("MDL without Process: %v", err)
	}
}
