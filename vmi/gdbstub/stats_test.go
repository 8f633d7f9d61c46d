package gdbstub

import "testing"

// TestRoundTripsCounted: each answered request is one round trip; the
// cumulative buckets never exceed the count and end at it for replies
// within the last bound.
func TestRoundTripsCounted(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{cpus: 2}, AccelTCG, Config{})
	before := c.RoundTrips()
	mark := len(f.packets())
	buf := make([]byte, 5000)
	if _, err := c.ReadMemory(ctx(t), ThreadID{1, 2}, 0x1000, buf); err != nil {
		t.Fatal(err)
	}
	sent := uint64(len(f.packets()) - mark)
	after := c.RoundTrips()
	if got := after.Count - before.Count; got != sent {
		t.Errorf("%d round trips counted for %d requests answered", got, sent)
	}
	last := after.Cumulative[len(after.Cumulative)-1]
	for i := 1; i < len(after.Cumulative); i++ {
		if after.Cumulative[i] < after.Cumulative[i-1] {
			t.Fatalf("buckets not cumulative: %v", after.Cumulative)
		}
	}
	if last > after.Count || last < after.Count-before.Count {
		t.Errorf("last bucket %d, count %d: a fake's replies take well under a second", last, after.Count)
	}
	if after.Sum <= before.Sum {
		t.Errorf("sum did not grow: %v -> %v", before.Sum, after.Sum)
	}
}
