package vmi

import (
	"context"
	"testing"

	"github.com/frostvmi/frost/vmi/libvirt"
)

// TestLibvirtLifecycle: REBOOT is a reset; stopped, shutdown and crashed
// end the guest; suspend (each gdbstub stop) is no event, and resume only
// a hint for the reconciler.
func TestLibvirtLifecycle(t *testing.T) {
	in := make(chan libvirt.Event, 8)
	for _, e := range []libvirt.Event{
		{Kind: libvirt.EventLifecycle, Lifecycle: libvirt.Suspended},
		{Kind: libvirt.EventLifecycle, Lifecycle: libvirt.Resumed},
		{Kind: libvirt.EventReboot, Domain: "d"},
		{Kind: libvirt.EventLifecycle, Lifecycle: libvirt.Crashed},
		{Kind: libvirt.EventLifecycle, Lifecycle: libvirt.Stopped},
	} {
		in <- e
	}
	close(in)
	var got []EventKind
	libvirtLifecycle(in)(context.Background(), func(e Event) { got = append(got, e.Kind) })
	want := []EventKind{hintResumed, EventReset, EventShutdown, EventShutdown}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
}
