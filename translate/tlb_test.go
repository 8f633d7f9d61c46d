package translate

import "testing"

// TestTLBZeroSlot: a slot no fill has written does not answer for DTB 0,
// page 0 in generation 0, which its zero words would otherwise match.
func TestTLBZeroSlot(t *testing.T) {
	c := newTLB(4)
	if l, ok := c.get(0, 0, 0); ok {
		t.Fatalf("an empty slot answered %+v", l.at(0))
	}
}

// TestTLBRoundTrip: what a slot packs comes back as it was put, and what it
// cannot hold is not cached (the walk answers instead).
func TestTLBRoundTrip(t *testing.T) {
	c := newTLB(8)
	for i, loc := range []Location{
		{State: StateValid, Addr: 0x7654321000, PageSize: 1 << 30},
		{State: StateTransition, Addr: 0x1000, PageSize: pageSize, Protection: 4},
		{State: StatePagefile, Addr: 0x31000, Pagefile: 15, PageSize: pageSize, Protection: 0x1f, PrototypePTE: 0xffffa00012345678},
		{State: StateDemandZero, PageSize: pageSize, Protection: 1},
		{State: StateReserved},
	} {
		page := uint64(i) << pageShift
		c.put(0x1000, page, 7, &loc)
		got, ok := c.get(0x1000, page, 7)
		if !ok {
			t.Fatalf("%+v: not cached", loc)
		}
		if got.at(0) != loc {
			t.Errorf("put %+v, got %+v", loc, got.at(0))
		}
	}
	for _, loc := range []Location{
		{State: StateFile, Addr: 0x2000, PageSize: pageSize, File: &FileLocation{Name: "f"}},
		{State: StateValid, Addr: 0x2000, PageSize: 3000},
		{State: StatePagefile, Addr: 0x2000, PageSize: pageSize, Pagefile: 1 << 16},
		{State: StateValid, Addr: 0x2000, PageSize: pageSize, Protection: 1 << 16},
	} {
		c.put(0x1000, 0x9000, 7, &loc)
		if got, ok := c.get(0x1000, 0x9000, 7); ok {
			t.Errorf("%+v: cached as %+v", loc, got.at(0))
		}
	}
}
