package libvirt

import (
	"context"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
)

// TestFanout: every subscriber gets every event in order, a subscriber
// that stops reading holds up nobody, a cancelled one is dropped, and all
// close when the connection's streams end.
func TestFanout(t *testing.T) {
	f := newFanout()
	life := make(chan golibvirt.DomainEventLifecycleMsg)
	reboot := make(chan interface{})
	go f.run(life, reboot)

	ctx := context.Background()
	a := f.subscribe(ctx)
	idle := f.subscribe(ctx) // never read until the end
	cctx, cancel := context.WithCancel(ctx)
	gone := f.subscribe(cctx)
	cancel()
	for range gone {
	}

	for i := range 100 {
		life <- golibvirt.DomainEventLifecycleMsg{Dom: golibvirt.Domain{Name: "d"}, Event: int32(Resumed), Detail: int32(i)}
	}
	reboot <- &golibvirt.DomainEventCallbackRebootMsg{Msg: golibvirt.DomainEventRebootMsg{Dom: golibvirt.Domain{Name: "d"}}}
	for i := range 100 {
		e := <-a
		if e.Kind != EventLifecycle || e.Detail != int32(i) {
			t.Fatalf("event %d: %v", i, e)
		}
	}
	if e := <-a; e.Kind != EventReboot || e.Domain != "d" {
		t.Fatalf("want the reboot, got %v", e)
	}
	close(life) // the connection is gone
	select {
	case _, ok := <-a:
		if ok {
			t.Fatal("an event after the end")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber was not closed at the end")
	}
	n := 0
	for range idle {
		n++
	}
	if n != 101 {
		t.Errorf("the idle subscriber got %d events after the end, want all 101 it missed", n)
	}
	if _, ok := <-f.subscribe(ctx); ok {
		t.Error("a subscriber after the end got an event")
	}
}
