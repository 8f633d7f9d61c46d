package nt

import (
	"errors"
	"testing"
)

// timerTableGuest is Windows 10's layout with a Windows 7-style global
// timer table (KiTimerTableListHead, KiTimerTableSize) and plain Dpc
// pointers (no KiWaitNever), as mini-NT keeps them.
func timerTableGuest(t *testing.T, hands uint64) (*guest, uint64) {
	tab := realISFWith(t, []string{"KiWaitNever"}, map[string]uint64{"KiTimerTableListHead": 0xF00000, "KiTimerTableSize": 0xEFFFF0}, nil)
	g := newGuestOn(t, tab)
	size := g.size("_KTIMER_TABLE_ENTRY")
	table := g.global("KiTimerTableListHead")
	g.mem.write(table, make([]byte, size*hands))
	for h := uint64(0); h < hands; h++ {
		g.initList(g.addr("_KTIMER_TABLE_ENTRY", table+h*size, "Entry"))
	}
	g.mem.write(g.global("KiTimerTableSize"), []byte{byte(hands), byte(hands >> 8), 0, 0})
	return g, table
}

// armTimer puts a _KTIMER on hand h of the table.
func (g *guest) armTimer(table, h, due, period, typ, dpc uint64) uint64 {
	tm := g.alloc("_KTIMER")
	g.set("_KTIMER", tm, "DueTime.QuadPart", due)
	g.set("_KTIMER", tm, "Period", period)
	g.set("_KTIMER", tm, "Header.Type", typ)
	g.set("_KTIMER", tm, "Dpc", dpc)
	g.insertTail(g.addr("_KTIMER_TABLE_ENTRY", table+h*g.size("_KTIMER_TABLE_ENTRY"), "Entry"), g.addr("_KTIMER", tm, "TimerListEntry"))
	return tm
}

// TestRealISFTimers: the timers on each hand, with their DPCs, on Windows
// 10's _KTIMER and _KDPC.
func TestRealISFTimers(t *testing.T) {
	g, table := timerTableGuest(t, 256)
	dpc := g.alloc("_KDPC")
	g.set("_KDPC", dpc, "DeferredRoutine", 0xfffff80000001234)
	g.set("_KDPC", dpc, "DeferredContext", 0xffffa00000005678)
	periodic := g.armTimer(table, 7, 0x1e8480, 200, 9, dpc)
	oneShot := g.armTimer(table, 7, 0x1e8481, 0, 8, 0)
	last := g.armTimer(table, 255, 0xffff, 0, 8, 0)
	g.set("_KTIMER", last, "Header.SignalState", 1)

	got, err := g.kernel().Timers()
	if err != nil {
		t.Fatal(err)
	}
	want := []Timer{
		{Address: periodic, Hand: 7, DueTime: 0x1e8480, Period: 200, Type: 9, Dpc: dpc, DeferredRoutine: 0xfffff80000001234, DeferredContext: 0xffffa00000005678},
		{Address: oneShot, Hand: 7, DueTime: 0x1e8481, Type: 8},
		{Address: last, Hand: 255, DueTime: 0xffff, Type: 8, Signaled: true},
	}
	if len(got) != len(want) {
		t.Fatalf("Timers = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("timer %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestRealISFTimersRejects(t *testing.T) {
	// Windows 10 as it is: per-processor tables, encoded DPCs.
	g := newRealGuest(t)
	var se *SymbolError
	if _, err := g.kernel().Timers(); !errors.As(err, &se) {
		t.Errorf("Timers on Windows 10's own symbols: %v, want a SymbolError", err)
	}
	// A table size no kernel has.
	g, _ = timerTableGuest(t, 1)
	g.mem.write(g.global("KiTimerTableSize"), []byte{0, 0, 1, 0})
	if _, err := g.kernel().Timers(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("KiTimerTableSize 65536: %v", err)
	}
	// A hand whose list loops without returning to its head.
	g, table := timerTableGuest(t, 2)
	a := g.armTimer(table, 1, 1, 0, 8, 0)
	b := g.armTimer(table, 1, 2, 0, 8, 0)
	g.set("_LIST_ENTRY", g.addr("_KTIMER", b, "TimerListEntry"), "Flink", g.addr("_KTIMER", a, "TimerListEntry"))
	if _, err := g.kernel().Timers(); !errors.Is(err, ErrCycle) {
		t.Errorf("a looping hand: %v", err)
	}
	// A Dpc pointer that is not an address.
	g, table = timerTableGuest(t, 2)
	g.armTimer(table, 0, 1, 0, 8, 0x0000900000000000)
	if _, err := g.kernel().Timers(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a non-canonical Dpc: %v", err)
	}
}
