package translate

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// mixedGuest maps eight pages at userVA in eight states, in order: valid,
// transition, pagefile (supplied), pagefile (not supplied), demand-zero,
// decommitted, zero under a reserved VAD, and valid again.
func mixedGuest(t *testing.T) (*guest, [][]byte) {
	g := newGuest(t, 36, mask46)
	g.va = userVA
	b := g.b
	want := make([][]byte, 8)
	b.vads.add(g.dtb, VAD{Start: userVA + 6*pageSize, End: userVA + 7*pageSize, Private: true})
	b.mapPage(g.dtb, userVA, g.dataPage(0))
	want[0] = pattern(0)
	b.setInvalid(g.dtb, userVA+pageSize, LevelPTE, b.transition(g.dataPage(1)>>pageShift, 4))
	want[1] = pattern(1)
	g.pagefile1(0x12, 2)
	b.setInvalid(g.dtb, userVA+2*pageSize, LevelPTE, b.pagefile(1, 0x12, 4))
	want[2] = pattern(2)
	b.setInvalid(g.dtb, userVA+3*pageSize, LevelPTE, b.pagefile(2, 0x13, 4))
	b.setInvalid(g.dtb, userVA+4*pageSize, LevelPTE, b.demandZero(4))
	want[4] = make([]byte, pageSize)
	b.setInvalid(g.dtb, userVA+5*pageSize, LevelPTE, b.demandZero(mmDecommit))
	b.set(g.dtb, userVA+6*pageSize, LevelPTE, b.swizzle(0))
	b.mapPage(g.dtb, userVA+7*pageSize, g.dataPage(7))
	want[7] = pattern(7)
	return g, want
}

func TestReadVirtualAcrossPages(t *testing.T) {
	g, want := mixedGuest(t)
	tr := g.b.translator(mask46)
	// Start and end mid-page: nine pieces.
	const start = 0x234
	buf := bytes.Repeat([]byte{0xEE}, 8*pageSize-start-0x100)
	res := tr.ReadVirtual(g.dtb, userVA+start, buf)
	if len(res.Pages()) != 8 {
		t.Fatalf("%d pieces, want 8", len(res.Pages()))
	}
	wantErr := []error{nil, nil, nil, ErrPagefileNotSupplied, nil, ErrDecommitted, ErrReserved, nil}
	wantState := []State{StateValid, StateTransition, StatePagefile, StatePagefile, StateDemandZero, StateDecommitted, StateReserved, StateValid}
	served := 0
	for i, p := range res.Pages() {
		if !errors.Is(p.Err, wantErr[i]) || (p.Err == nil) != (wantErr[i] == nil) || p.Location.State != wantState[i] {
			t.Errorf("page %d: %s, %v; want %s, %v", i, p.Location.State, p.Err, wantState[i], wantErr[i])
		}
		page := uint64(i) * pageSize
		from := max(page, start) - start
		to := min(page+pageSize, start+uint64(len(buf))) - start
		if p.Off != int(from) || p.Len != int(to-from) || p.VA != userVA+start+from {
			t.Errorf("page %d: piece %+v, want [%d, %d)", i, p, from, to)
		}
		got := buf[from:to]
		if wantErr[i] != nil {
			if !bytes.Equal(got, make([]byte, len(got))) {
				t.Errorf("page %d: unserved bytes are not zeroed", i)
			}
			continue
		}
		served += len(got)
		if exp := want[i][from+start-page : to+start-page]; !bytes.Equal(got, exp) {
			t.Errorf("page %d: content differs", i)
		}
	}
	if res.N != served || res.Smear {
		t.Errorf("N = %d (want %d), Smear = %v", res.N, served, res.Smear)
	}
	if err := res.Err(); !errors.Is(err, ErrPagefileNotSupplied) || !strings.Contains(err.Error(), "pagefile 2 at offset 0x13000") {
		t.Errorf("Err() = %v", err)
	}
}

func TestReadVirtualEdges(t *testing.T) {
	g, _ := mixedGuest(t)
	tr := g.b.translator(mask46)
	if res := tr.ReadVirtual(g.dtb, userVA, nil); len(res.Pages()) != 0 || res.N != 0 {
		t.Errorf("empty read: %+v", res)
	}
	// Across the top of the lower half into non-canonical space.
	buf := make([]byte, 2*pageSize)
	res := tr.ReadVirtual(g.dtb, 0x00007ffffffff000, buf)
	var ae *AddressError
	if len(res.Pages()) != 2 || !errors.As(res.Pages()[1].Err, &ae) {
		t.Errorf("into the hole: %+v", res.Pages())
	}
	// Wrapping past 2^64.
	res = tr.ReadVirtual(g.dtb, 0xfffffffffffff800, buf)
	if len(res.Pages()) != 3 || res.Pages()[0].Len != 0x800 {
		t.Errorf("wrapping: %+v", res.Pages())
	}
}

// TestGenerations: the cache serves within one stop; a resume makes it
// stale; a running guest's reads bypass it and say so.
func TestGenerations(t *testing.T) {
	g := newGuest(t, 36, mask46)
	b := g.b
	b.mapPage(g.dtb, g.va, g.dataPage(0))
	tr := b.translator(mask46)
	loc, _ := tr.Translate(g.dtb, g.va)
	if loc.Addr != g.dataPage(0) {
		t.Fatal(loc)
	}
	// The guest remaps the page while stopped, without Frost knowing: the
	// cache still answers, as a TLB does.
	other := g.dataPage(1)
	b.mapPage(g.dtb, g.va, other)
	if loc, _ = tr.Translate(g.dtb, g.va); loc.Addr != g.dataPage(0) {
		t.Fatalf("within one stop the cached translation is served: %+v", loc)
	}
	// A resume bumps the generation.
	gen := tr.Generation()
	tr.Resumed()
	if tr.Generation() != gen+1 {
		t.Fatalf("generation %d after resume, want %d", tr.Generation(), gen+1)
	}
	buf := make([]byte, 16)
	res := tr.ReadVirtual(g.dtb, g.va, buf)
	if !res.Smear || res.Pages()[0].Location.Addr != other {
		t.Fatalf("running: %+v", res)
	}
	// While running nothing is cached: a change shows at once.
	b.mapPage(g.dtb, g.va, g.dataPage(2))
	if loc, _ = tr.Translate(g.dtb, g.va); loc.Addr != g.dataPage(2) {
		t.Fatalf("running: %+v", loc)
	}
	tr.Stopped()
	if loc, _ = tr.Translate(g.dtb, g.va); loc.Addr != g.dataPage(2) {
		t.Fatalf("stopped again: %+v", loc)
	}
	b.mapPage(g.dtb, g.va, g.dataPage(3))
	if res = tr.ReadVirtual(g.dtb, g.va, buf); res.Smear || res.Pages()[0].Location.Addr != g.dataPage(2) {
		t.Fatalf("stopped: cached translation expected: %+v", res)
	}
	// Vtop always walks.
	if p := tr.Vtop(g.dtb, g.va); p.Location.Addr != g.dataPage(3) {
		t.Fatalf("Vtop: %+v", p.Location)
	}
	// Without a TLB every translation walks.
	nocache := b.translator(mask46, func(c *Config) { c.TLBEntries = -1 })
	if loc, _ = nocache.Translate(g.dtb, g.va); loc.Addr != g.dataPage(3) {
		t.Fatalf("no TLB: %+v", loc)
	}
}

// TestTLBKeys: entries of different DTBs and pages never answer for each
// other, and a full cache only evicts.
func TestTLBKeys(t *testing.T) {
	c := newTLB(16)
	for dtb := uint64(1); dtb <= 4; dtb++ {
		for page := uint64(0); page < 64; page++ {
			c.put(dtb<<12, page<<12, 1, &Location{State: StateValid, Addr: dtb<<32 | page<<12})
		}
	}
	hits := 0
	for dtb := uint64(1); dtb <= 4; dtb++ {
		for page := uint64(0); page < 64; page++ {
			l, ok := c.get(dtb<<12, page<<12, 1)
			if !ok {
				continue
			}
			hits++
			if l.at(0).Addr != dtb<<32|page<<12 {
				t.Fatalf("(0x%x, 0x%x) answered %+v", dtb<<12, page<<12, l)
			}
			if _, ok := c.get(dtb<<12, page<<12, 2); ok {
				t.Fatal("served in another generation")
			}
		}
	}
	if hits == 0 || hits > 16 {
		t.Errorf("%d hits in a 16-entry cache", hits)
	}
}

// TestConcurrentReads: reads, translations and generation changes from
// several goroutines (run with -race).
func TestConcurrentReads(t *testing.T) {
	g, want := mixedGuest(t)
	tr := g.b.translator(mask46)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			tr.Resumed()
			tr.Stopped()
		}
	}()
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			buf := make([]byte, pageSize)
			for i := range 400 {
				page := uint64(i%2) * 7 // pages 0 and 7 are valid
				res := tr.ReadVirtual(g.dtb, userVA+page*pageSize, buf)
				if res.Err() != nil || !bytes.Equal(buf, want[page]) {
					errs <- fmt.Errorf("page %d: %v, or its content differs", page, res.Err())
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	<-done
}
