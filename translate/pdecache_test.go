package translate

import "testing"

// TestPDECacheGenerations: a region's page table, remembered while the
// guest is stopped, is not used after it runs: a PDE repointed to a new
// page table is followed in the next stop, and Vtop always shows all four
// levels.
func TestPDECacheGenerations(t *testing.T) {
	b, dtb, _, tr := sweepGuest(t, 4)
	tr.Stopped()
	for i := range uint64(4) {
		if loc, err := tr.Translate(dtb, userVA+i*pageSize); err != nil || loc.State != StateValid {
			t.Fatalf("page %d: %+v %v", i, loc, err)
		}
	}
	if _, ok := tr.pdes.get(dtb, userVA, tr.Generation()); !ok {
		t.Fatal("the region's page table was not remembered")
	}
	// A new page table for the region, mapping its first page elsewhere.
	pt, data := b.alloc(), b.alloc()
	b.mem.write64(pt+(userVA>>pageShift&511)*entrySize, b.valid(data>>pageShift))
	b.set(dtb, userVA, LevelPDE, b.valid(pt>>pageShift))

	tr.Resumed()
	if loc, err := tr.Translate(dtb, userVA); err != nil || loc.Addr != data {
		t.Fatalf("running: %+v %v, want 0x%x", loc, err, data)
	}
	tr.Stopped()
	for range 2 { // the first fills the caches, the second uses them
		if loc, err := tr.Translate(dtb, userVA); err != nil || loc.Addr != data {
			t.Fatalf("stopped again: %+v %v, want 0x%x", loc, err, data)
		}
	}
	if loc, _ := tr.Translate(dtb, userVA+pageSize); loc.State != StateNotMapped {
		t.Fatalf("the new table maps nothing else: %+v", loc)
	}
	p := tr.Vtop(dtb, userVA)
	levels := 0
	for _, s := range p.Steps {
		if s.Level >= LevelPML4E && s.Level <= LevelPTE {
			levels++
		}
	}
	if levels != 4 || p.Location.Addr != data {
		t.Fatalf("Vtop: %d entry steps, %+v", levels, p.Location)
	}
}

// TestPDECacheZeroSlot: an empty slot does not answer for DTB 0, region 0,
// generation 0.
func TestPDECacheZeroSlot(t *testing.T) {
	var c pdeCache
	if pt, ok := c.get(0, 0, 0); ok {
		t.Fatalf("an empty slot answered 0x%x", pt)
	}
}
