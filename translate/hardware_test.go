package translate

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// A hardware-only walk, on page tables laid out as Linux lays them out
// for x86-64 (4-level, PTI): present entries with NX and the OS's own
// bits above the address, 2M and 1G pages with PAT set, and non-present
// entries that hold swap slots, which only the OS can read.

func hwLayout() *Layout {
	return &Layout{Valid: Bits{0, 1}, LargePage: Bits{7, 1}, PageFrameNumber: Bits{12, 40}, PTESize: 8}
}

func hwTranslator(t *testing.T, b *builder, bits uint) *Translator {
	t.Helper()
	tr, err := NewHardware(HardwareConfig{Physical: b.mem, PhysicalBits: bits})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Model() != ModelX86 {
		t.Fatalf("model %v", tr.Model())
	}
	return tr
}

const (
	nx        = uint64(1) << 63
	osBits    = uint64(0x7f) << 52 // bits 52..58: free for the OS in every entry
	pat4K     = uint64(1) << 7     // a PTE's bit 7 is PAT, not PS
	patLarge  = uint64(1) << 12    // a large page's PAT: inside its address field
	linuxUser = 0x0000_7fff_f000_0000
	linuxText = 0xffff_ffff_8100_0000 // __START_KERNEL_map + 16 MiB, nokaslr
	linuxMap  = 0xffff_8880_0000_0000 // the direct map, in 1G pages
)

func TestHardwareWalk(t *testing.T) {
	b := newBuilder(t, hwLayout(), 0)
	dtb := b.newDTB()
	// A user page: NX, OS bits and PAT set, and the data there.
	data := b.alloc()
	b.mem.write(data+0x123, []byte("frost-write 7"))
	b.set(dtb, linuxUser, LevelPTE, b.valid(data>>pageShift)|nx|osBits|pat4K)
	// Kernel text in a 2M page at PA 16 MiB, PAT set.
	b.frameAt(0x100_0000 + 0x5000)
	b.mem.write(0x100_0000+0x5abc, []byte{0xf3, 0x0f, 0x1e, 0xfa})
	b.set(dtb, linuxText, LevelPDE, b.large(0x100_0000>>pageShift)|patLarge|osBits)
	// The direct map's first gigabyte in one 1G page.
	b.set(dtb, linuxMap, LevelPDPTE, b.large(0)|nx)
	// A swap slot: not present, the rest is Linux's (an inverted PFN).
	b.set(dtb, linuxUser+pageSize, LevelPTE, ^uint64(0x3000)&^1)
	tr := hwTranslator(t, b, 0)

	cases := []struct {
		name  string
		va    uint64
		state State
		pa    uint64
		size  uint64
	}{
		{"4K user page, NX, OS bits, PAT", linuxUser + 0x123, StateValid, data + 0x123, 4 << 10},
		{"2M kernel text, PAT", linuxText + 0x5abc, StateValid, 0x100_0000 + 0x5abc, 2 << 20},
		{"1G direct map", linuxMap + 0x100_5abc, StateValid, 0x100_5abc, 1 << 30},
		{"swap entry", linuxUser + pageSize + 8, StateNotMapped, 0, 4 << 10},
		{"no PML4E", 0x0000_1000_0000_0000, StateNotMapped, 0, 4 << 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			loc, err := tr.Translate(dtb, c.va)
			if err != nil {
				t.Fatal(err)
			}
			if loc.State != c.state || loc.Addr != c.pa || loc.PageSize != c.size {
				t.Errorf("0x%x: %v at 0x%x (%d), want %v at 0x%x (%d)", c.va, loc.State, loc.Addr, loc.PageSize, c.state, c.pa, c.size)
			}
		})
	}

	buf := make([]byte, 13)
	if res := tr.ReadVirtual(dtb, linuxUser+0x123, buf); res.Err() != nil || string(buf) != "frost-write 7" {
		t.Errorf("read %q, %v", buf, res.Err())
	}
	res := tr.ReadVirtual(dtb, linuxUser+pageSize, buf)
	if !errors.Is(res.Err(), ErrNotMapped) || !bytes.Equal(buf, make([]byte, 13)) {
		t.Errorf("read of a swapped-out page: %q, %v; want zeros and ErrNotMapped", buf, res.Err())
	}
}

// The same non-present entry means different things to the two models:
// Windows reads its software fields, the hardware walk reads nothing.
func TestHardwareIgnoresSoftwareEntries(t *testing.T) {
	l := testLayout(36)
	b := newBuilder(t, l, 0)
	dtb := b.newDTB()
	frame := b.alloc()
	b.mem.write(frame, []byte("still in RAM"))
	b.set(dtb, linuxUser, LevelPTE, b.transition(frame>>pageShift, 4))
	win, err := New(Config{Layout: l, Physical: b.mem})
	if err != nil {
		t.Fatal(err)
	}
	hw := hwTranslator(t, b, 0)
	if loc, err := win.Translate(dtb, linuxUser); err != nil || loc.State != StateTransition || loc.Addr != frame {
		t.Errorf("windows: %v at 0x%x, %v; want transition at 0x%x", loc.State, loc.Addr, err, frame)
	}
	if loc, err := hw.Translate(dtb, linuxUser); err != nil || loc.State != StateNotMapped {
		t.Errorf("x86-64: %v, %v; want not mapped", loc.State, err)
	}
}

// CR3 as the processor holds it: a PCID in bits 0-11, and under PTI a
// user CR3 whose bit 12 picks the user half of an 8K PGD pair.
func TestHardwarePCIDAndPTI(t *testing.T) {
	b := newBuilder(t, hwLayout(), 0)
	// Two adjacent frames: the kernel PGD, then the user PGD.
	kernel := b.alloc()
	user := b.alloc()
	if user != kernel+pageSize || kernel&(2*pageSize-1) != 0 {
		t.Skipf("builder did not give an 8K-aligned pair (0x%x, 0x%x)", kernel, user)
	}
	kpage := b.mapNew(kernel, linuxUser, []byte("seen through the kernel PGD"))
	upage := b.mapNew(user, linuxUser, []byte("seen through the user PGD"))
	tr := hwTranslator(t, b, 0)
	const pcid = 0x5
	for _, c := range []struct {
		cr3, pa uint64
	}{
		{kernel | pcid, kpage},
		{user | 1<<11 | pcid, upage}, // Linux's user PCID sets bit 11
	} {
		loc, err := tr.Translate(c.cr3, linuxUser)
		if err != nil || loc.Addr != c.pa {
			t.Errorf("CR3 0x%x: 0x%x, %v; want 0x%x", c.cr3, loc.Addr, err, c.pa)
		}
	}
}

// With the guest's MAXPHYADDR known, address bits above it are reserved:
// the processor faults, so the walk fails and says why.
func TestHardwareReservedBits(t *testing.T) {
	b := newBuilder(t, hwLayout(), 0)
	dtb := b.newDTB()
	pa := b.alloc()
	b.set(dtb, linuxUser, LevelPTE, b.valid(pa>>pageShift)|1<<47)
	if loc, err := hwTranslator(t, b, 0).Translate(dtb, linuxUser); err != nil {
		t.Errorf("52 bits: %v, %v; bit 47 is an address bit", loc, err)
	}
	_, err := hwTranslator(t, b, 46).Translate(dtb, linuxUser)
	var ee *EntryError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("46 bits: %v, want a reserved-bits EntryError", err)
	}
}

func TestHardwareConfig(t *testing.T) {
	mem := newPhysMem()
	for _, bits := range []uint{12, 53, 64} {
		if _, err := NewHardware(HardwareConfig{Physical: mem, PhysicalBits: bits}); err == nil {
			t.Errorf("%d physical bits accepted", bits)
		}
	}
	if _, err := NewHardware(HardwareConfig{}); err == nil {
		t.Error("no Physical accepted")
	}
}

func TestHardwareVtop(t *testing.T) {
	b := newBuilder(t, hwLayout(), 0)
	dtb := b.newDTB()
	b.set(dtb, linuxText, LevelPDE, b.large(0x100_0000>>pageShift)|patLarge)
	b.frameAt(0x100_0000)
	p := hwTranslator(t, b, 0).Vtop(dtb, linuxText+0x10)
	if p.Model != ModelX86 || p.Err != nil {
		t.Fatalf("model %v, err %v", p.Model, p.Err)
	}
	got := p.String()
	for _, want := range []string{
		"[x86-64] Valid PFN 0x1001 LargePage RW U A D PAT -> 2M page @ 0x1000000",
		"Physical Address 0x1000010",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("vtop lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "_MMPTE") {
		t.Errorf("a hardware walk named a Windows structure:\n%s", got)
	}
}
