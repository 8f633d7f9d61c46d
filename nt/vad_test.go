package nt

import (
	"errors"
	"testing"
)

// testVAD describes a VAD to build.
type testVAD struct {
	start, end uint64 // pages [start, end)
	private    bool
	commit     bool
	protection uint64
	proto      uint64 // FirstPrototypePte of a mapped view
}

// buildVADs builds a balanced tree of vads (sorted by start) under ep's
// VadRoot and returns the nodes' addresses by index.
func buildVADs(g *guest, ep uint64, vads []testVAD) []uint64 {
	nodes := make([]uint64, len(vads))
	for i, v := range vads {
		long := g.alloc("_MMVAD")
		short := g.addr("_MMVAD", long, "Core")
		sv, ev := v.start>>12, (v.end>>12)-1
		g.set("_MMVAD_SHORT", short, "StartingVpn", sv&0xffffffff)
		g.set("_MMVAD_SHORT", short, "StartingVpnHigh", sv>>32)
		g.set("_MMVAD_SHORT", short, "EndingVpn", ev&0xffffffff)
		g.set("_MMVAD_SHORT", short, "EndingVpnHigh", ev>>32)
		g.set("_MMVAD_SHORT", short, "u.VadFlags.Protection", v.protection)
		if v.private {
			g.set("_MMVAD_SHORT", short, "u.VadFlags.PrivateMemory", 1)
		} else {
			g.set("_MMVAD_SHORT", short, "u.VadFlags.VadType", 2)
			g.set("_MMVAD", long, "FirstPrototypePte", v.proto)
			g.set("_MMVAD", long, "Subsection", v.proto+0x10000)
		}
		if v.commit {
			g.set("_MMVAD_SHORT", short, "u1.VadFlags1.MemCommit", 1)
		}
		nodes[i] = g.addr("_MMVAD_SHORT", short, "VadNode")
	}
	var build func(lo, hi int) uint64
	build = func(lo, hi int) uint64 {
		if lo >= hi {
			return 0
		}
		mid := (lo + hi) / 2
		g.set("_RTL_BALANCED_NODE", nodes[mid], "Left", build(lo, mid))
		g.set("_RTL_BALANCED_NODE", nodes[mid], "Right", build(mid+1, hi))
		return nodes[mid]
	}
	g.set("_EPROCESS", ep, "VadRoot.Root", build(0, len(vads)))
	return nodes
}

var sampleVADs = []testVAD{
	{start: 0x10000, end: 0x20000, private: true, commit: true, protection: 4},
	{start: 0x7ffdf000, end: 0x7ffe0000, private: true, commit: true, protection: 4},
	{start: 0x140000000, end: 0x140005000, private: true, protection: 6},
	{start: 0x7ff600000000, end: 0x7ff600010000, proto: 0xffffa00012345000, protection: 7},
	{start: 0x7ff700000000, end: 0x7ff700001000, private: true, commit: true, protection: 1},
}

func TestVADs(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		ep := g.process(0x44, 4, 0x5000, "swapper.exe")
		buildVADs(g, ep, sampleVADs)
		k := g.kernel()
		p, err := k.ProcessByPID(0x44)
		if err != nil {
			t.Fatal(err)
		}
		vads, err := k.VADs(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(vads) != len(sampleVADs) {
			t.Fatalf("%d VADs %v, want %d", len(vads), vads, len(sampleVADs))
		}
		for i, w := range sampleVADs {
			v := vads[i]
			if v.Start != w.start || v.End != w.end || v.Private != w.private || v.MemCommit != w.commit || v.Protection != w.protection || v.FirstPrototypePte != w.proto {
				t.Errorf("VAD %d = %v (proto %#x), want %+v", i, v, v.FirstPrototypePte, w)
			}
		}
		// The resolver, by DTB as translation asks (a CR3 with PCID bits).
		for _, c := range []struct {
			va    uint64
			found bool
			start uint64
		}{
			{0x10000, true, 0x10000}, {0x1ffff, true, 0x10000}, {0x20000, false, 0},
			{0x7ff60000f123, true, 0x7ff600000000}, {0x140004fff, true, 0x140000000}, {0x7ff700001000, false, 0},
		} {
			v, ok, err := k.FindVAD(0x5000|3, c.va)
			if err != nil || ok != c.found || v.Start != c.start {
				t.Errorf("FindVAD(%#x) = %+v, %v, %v; want found %v at %#x", c.va, v, ok, err, c.found, c.start)
			}
		}
		v, _, _ := k.FindVAD(0x5000, 0x7ff600000000)
		if v.Private || v.FirstPrototypePte != 0xffffa00012345000 || v.Subsection != 0xffffa00012355000 {
			t.Errorf("mapped view resolves to %+v", v)
		}
		if _, _, err := k.FindVAD(0x9000, 0x10000); !errors.Is(err, ErrNoProcess) {
			t.Errorf("FindVAD with an unknown DTB: %v, want ErrNoProcess", err)
		}
	})
}

// TestVADCycle: a child that points back at the root, and a node that is
// its own child, end in errors rather than a hang, for the listing and the
// lookup.
func TestVADCycle(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		ep := g.process(0x44, 4, 0x5000, "swapper.exe")
		nodes := buildVADs(g, ep, sampleVADs)
		root := nodes[len(nodes)/2]
		leaf := nodes[len(nodes)-1]
		g.set("_RTL_BALANCED_NODE", leaf, "Right", root)
		k := g.kernel()
		p, _ := k.ProcessByPID(0x44)
		if _, err := k.VADs(p); !errors.Is(err, ErrCycle) {
			t.Errorf("VADs with a child pointing at the root: %v, want ErrCycle", err)
		}
		// The lookup follows one path: beyond the last VAD it runs round
		// the loop, and the depth bound stops it.
		if _, _, err := k.FindVAD(0x5000, 0x7fff00000000); !errors.Is(err, ErrTooLong) {
			t.Errorf("FindVAD round a loop: %v, want ErrTooLong", err)
		}
		g.set("_RTL_BALANCED_NODE", leaf, "Right", leaf)
		if _, err := k.VADs(p); !errors.Is(err, ErrCycle) {
			t.Errorf("VADs with a node its own child: %v, want ErrCycle", err)
		}
	})
}

// TestVADCorrupt: a tree out of order and a VAD ending before it starts
// are reported as corrupt.
func TestVADCorrupt(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		ep := g.process(0x44, 4, 0x5000, "swapper.exe")
		nodes := buildVADs(g, ep, sampleVADs)
		k := g.kernel()
		p, _ := k.ProcessByPID(0x44)
		// Swap two subtrees' roots: in-order becomes unsorted.
		root := nodes[len(nodes)/2]
		l := g.u64(g.addr("_RTL_BALANCED_NODE", root, "Left"))
		r := g.u64(g.addr("_RTL_BALANCED_NODE", root, "Right"))
		g.set("_RTL_BALANCED_NODE", root, "Left", r)
		g.set("_RTL_BALANCED_NODE", root, "Right", l)
		if _, err := k.VADs(p); !errors.Is(err, ErrCorrupt) {
			t.Errorf("unsorted tree: %v, want ErrCorrupt", err)
		}
		g.set("_RTL_BALANCED_NODE", root, "Left", l)
		g.set("_RTL_BALANCED_NODE", root, "Right", r)
		short := nodes[0] - g.addr("_MMVAD_SHORT", 0, "VadNode")
		g.set("_MMVAD_SHORT", short, "EndingVpn", 0)
		if _, err := k.VADs(p); !errors.Is(err, ErrCorrupt) {
			t.Errorf("VAD ending before it starts: %v, want ErrCorrupt", err)
		}
	})
}

// TestVADBound: a tree wider than Limits.VADs stops.
func TestVADBound(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		ep := g.process(0x44, 4, 0x5000, "swapper.exe")
		buildVADs(g, ep, sampleVADs)
		k := g.kernel()
		k.limits.VADs = 3
		p, _ := k.ProcessByPID(0x44)
		if _, err := k.VADs(p); !errors.Is(err, ErrTooLong) {
			t.Errorf("5 VADs with a bound of 3: %v, want ErrTooLong", err)
		}
	})
}
