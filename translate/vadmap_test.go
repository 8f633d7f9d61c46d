package translate

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestVadMap(t *testing.T) {
	g := newGuest(t, 36, mask46)
	b := g.b
	va := func(i uint64) uint64 { return userVA + i*pageSize }
	base := b.alloc() // four contiguous frames
	for i := 0; i < 3; i++ {
		b.alloc()
	}
	b.alloc()
	pa4 := b.alloc() // not contiguous with the fourth
	for i := uint64(0); i < 4; i++ {
		b.mapPage(g.dtb, va(i), base+i*pageSize)
	}
	b.mapPage(g.dtb, va(4), pa4)
	tbase := b.alloc()
	b.alloc()
	b.setInvalid(g.dtb, va(5), LevelPTE, b.transition(tbase>>pageShift, 4))
	b.setInvalid(g.dtb, va(6), LevelPTE, b.transition(tbase>>pageShift+1, 4))
	b.setInvalid(g.dtb, va(7), LevelPTE, b.pagefile(1, 0x10, 4))
	b.setInvalid(g.dtb, va(8), LevelPTE, b.pagefile(1, 0x11, 4))
	for i := uint64(9); i < 12; i++ {
		b.setInvalid(g.dtb, va(i), LevelPTE, b.demandZero(4))
	}
	b.subsection(g.dtb, g.subs, g.pool, 2, 8, 16, 0)
	b.files[g.subs] = MappedFile{Name: `\Windows\System32\frostimg.dll`}
	for k := uint64(0); k < 2; k++ {
		p := g.protoSlot(k, b.subsectionPTE(g.subs, 3))
		b.setInvalid(g.dtb, va(12+k), LevelPTE, b.protoPointer(p))
	}
	b.setInvalid(g.dtb, va(14), LevelPTE, b.vadMarker()) // no VAD: an error run
	b.set(g.dtb, va(15), LevelPTE, b.swizzle(0))

	runs, err := b.translator(mask46).VadMap(g.dtb, va(0), va(16))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.String())
	}
	want := []string{
		fmt.Sprintf("0x%012x-0x%012x Valid PhysAS @ 0x%x", va(0), va(4), base),
		fmt.Sprintf("0x%012x-0x%012x Valid PhysAS @ 0x%x", va(4), va(5), pa4),
		fmt.Sprintf("0x%012x-0x%012x Transition PhysAS @ 0x%x", va(5), va(7), tbase),
		fmt.Sprintf("0x%012x-0x%012x Pagefile 1 @ 0x10000", va(7), va(9)),
		fmt.Sprintf("0x%012x-0x%012x Demand Zero", va(9), va(12)),
		fmt.Sprintf(`0x%012x-0x%012x File Mapping \Windows\System32\frostimg.dll @ 0x1000`, va(12), va(14)),
		fmt.Sprintf("0x%012x-0x%012x Unknown: ", va(14), va(15)),
		fmt.Sprintf("0x%012x-0x%012x Not Mapped", va(15), va(16)),
	}
	if len(got) != len(want) {
		t.Fatalf("runs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("run %d: %s\nwant %s", i, got[i], want[i])
		}
	}
}

func TestVadMapRange(t *testing.T) {
	g := newGuest(t, 36, mask46)
	tr := g.b.translator(mask46)
	var ae *AddressError
	if _, err := tr.VadMap(g.dtb, userVA, userVA); !errors.As(err, &ae) {
		t.Errorf("empty range: %v", err)
	}
	if _, err := tr.VadMap(g.dtb, 0, 1<<47); !errors.As(err, &ae) {
		t.Errorf("the whole user space: %v", err)
	}
	// Unaligned ends round out to pages.
	runs, err := tr.VadMap(g.dtb, userVA+1, userVA+pageSize+1)
	if err != nil || len(runs) != 1 || runs[0].Start != userVA || runs[0].End != userVA+2*pageSize {
		t.Errorf("unaligned: %+v, %v", runs, err)
	}
}
