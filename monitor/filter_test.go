package monitor

import "testing"

func TestFilterMatch(t *testing.T) {
	for _, tc := range []struct {
		f    Filter
		pid  uint64
		name string
		want bool
	}{
		{Filter{}, 4, "System", true},
		{Filter{Processes: []string{"writer.exe"}}, 90, "WRITER.EXE", true},
		{Filter{Processes: []string{"writer.exe"}}, 90, "csrss.exe", false},
		{Filter{PIDs: []uint64{90}}, 90, "anything", true},
		{Filter{PIDs: []uint64{90}, Processes: []string{"csrss.exe"}}, 80, "csrss.exe", true},
		{Filter{PIDs: []uint64{90}, Processes: []string{"csrss.exe"}}, 81, "smss.exe", false},
	} {
		if got := tc.f.match(tc.pid, tc.name); got != tc.want {
			t.Errorf("%+v.match(%d, %q) = %v, want %v", tc.f, tc.pid, tc.name, got, tc.want)
		}
	}
}

// TestDeliverNeverBlocks fills the queue: the rest are counted lost, and
// sequence numbers keep counting so the consumer sees the gap.
func TestDeliverNeverBlocks(t *testing.T) {
	w := &NtWriteFile{events: make(chan WriteEvent, 2)}
	for i := 0; i < 5; i++ {
		w.deliver(WriteEvent{})
	}
	if w.Lost() != 3 {
		t.Errorf("lost %d, want 3", w.Lost())
	}
	if e := <-w.events; e.Seq != 1 {
		t.Errorf("first event seq %d", e.Seq)
	}
	w.deliver(WriteEvent{})
	<-w.events
	if e := <-w.events; e.Seq != 6 {
		t.Errorf("event after the loss has seq %d, want 6", e.Seq)
	}
	w.finish()
	w.deliver(WriteEvent{}) // after close: dropped, no panic
	if _, ok := <-w.events; ok {
		t.Error("events not closed")
	}
}
