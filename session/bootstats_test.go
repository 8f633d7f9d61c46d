package session

import (
	"testing"
	"time"
)

func TestBootPhases(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	b := &Booter{jobs: map[string]*BootJob{"win": {steps: []BootStep{
		{Time: at(0), Stage: StageAccepted},
		{Time: at(100), Stage: StageStarting},
		{Time: at(300), Stage: StageAttached},
		{Time: at(1300), Stage: "waiting"},
		{Time: at(1500), Stage: "waiting"},
		{Time: at(4500), Stage: "kernel"},
		{Time: at(4400), Stage: "done"}, // a clock step back: nothing
	}}}}
	want := map[string]float64{StageAccepted: 0.1, StageStarting: 0.2, StageAttached: 1, "waiting": 3.2, "kernel": 0}
	got := b.Phases()
	if len(got) != len(want) {
		t.Fatalf("phases %+v, want %v", got, want)
	}
	for _, p := range got {
		if p.VM != "win" || abs(p.Seconds-want[p.Stage]) > 1e-9 {
			t.Errorf("%+v, want %v s", p, want[p.Stage])
		}
	}
	if got[0].Stage != StageAccepted || got[3].Stage != "waiting" {
		t.Errorf("phases out of order: %+v", got)
	}
	if (&Booter{}).Phases() != nil {
		t.Error("a Booter with no boots has phases")
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
