package nt

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fuzzBase is where a fuzz input lies in the guest: the walk starts at its
// first byte (the head NBL), and pointers in it lead back into it.
const fuzzBase = 0xffffa00000010000

// seedChain lays out a valid chain in a fresh guest and returns the bytes
// from fuzzBase up: two lists, three frames, one across three MDLs.
func seedChain(t testing.TB) []byte {
	g := newNdisGuest(t, false, false)
	l1 := g.alloc("_NET_BUFFER_LIST") // first, so it lies at fuzzBase
	a := g.nb(g.chain(g.mdl(pattern(40, 1), true), g.mdl(pattern(10, 2), false), g.mdl(pattern(30, 3), true)), 4, 70)
	b := g.nb(g.mdl(pattern(60, 4), true), 0, 60)
	g.setM("_NET_BUFFER_LIST", l1, "FirstNetBuffer", a)
	g.setM("_NET_BUFFER", a, "Next", b)
	l2 := g.nbl(g.nb(g.mdl(pattern(42, 5), true), 0, 42))
	g.setM("_NET_BUFFER_LIST", l1, "Next", l2)
	out := make([]byte, g.next-fuzzBase)
	if err := g.mem.ReadVirtual(0, fuzzBase, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzNetBufferLists walks whatever bytes lie under NDIS's structures:
// any input ends in frames and an error, never a panic or a hang; a frame
// without an error has exactly DataLength bytes, within the bound; an
// unreadable one has none and says why.
func FuzzNetBufferLists(f *testing.F) {
	f.Add(seedChain(f))
	f.Add([]byte{})
	// The symbol table and the layout read from it are the same for every
	// input: built once, so each input pays only for its own walk (they
	// made the target ~60 inputs/s).
	tab := ndisSymbols(f, false, false)
	layout, err := NewNetLayout(nil, tab)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		g := newNdisGuestOn(t, tab)
		g.mem.write(fuzzBase, data)
		k := g.kernel()
		lim := NetLimits{NBLs: 8, NBsPerNBL: 8, MDLsPerNB: 8, MaxFrame: 4096}
		frames, err := k.NetBufferLists(layout, 0x1000, fuzzBase, lim)
		if len(frames) > lim.NBLs*lim.NBsPerNBL {
			t.Fatalf("%d frames past the bounds", len(frames))
		}
		if err != nil && !errors.As(err, new(*ReadError)) && !errors.As(err, new(*WalkError)) {
			t.Fatalf("%T %v", err, err)
		}
		for _, fr := range frames {
			switch {
			case fr.Err == nil && (uint64(len(fr.Data)) != fr.Length || len(fr.Data) > lim.MaxFrame):
				t.Fatalf("frame of %d bytes, DataLength %d", len(fr.Data), fr.Length)
			case fr.Err != nil && (fr.Data != nil || !errors.As(fr.Err, new(*FrameError))):
				t.Fatalf("unreadable frame with %d bytes: %v", len(fr.Data), fr.Err)
			}
		}
	})
}

// TestWriteNetBufferSeed rewrites the committed seed corpus entry from
// seedChain when FROST_WRITE_SEEDS is set (after the test layout changes).
func TestWriteNetBufferSeed(t *testing.T) {
	if os.Getenv("FROST_WRITE_SEEDS") == "" {
		t.Skip("FROST_WRITE_SEEDS not set")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzNetBufferLists")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(seedChain(t))) + ")\n"
	if err := os.WriteFile(filepath.Join(dir, "valid-chain"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The seed is a chain the walk reads whole: the fuzzer starts from valid
// structure, not from noise.
func TestNetBufferSeedIsValid(t *testing.T) {
	g := newNdisGuest(t, false, false)
	g.mem.write(fuzzBase, seedChain(t))
	frames, err := g.kernel().NetBufferLists(g.layout(), 0x1000, fuzzBase, NetLimits{})
	if err != nil || len(frames) != 3 {
		t.Fatalf("%d frames, %v", len(frames), err)
	}
	for _, fr := range frames {
		if fr.Err != nil || uint64(len(fr.Data)) != fr.Length {
			t.Errorf("%+v", fr)
		}
	}
}
