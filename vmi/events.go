package vmi

import (
	"time"
)

// emit delivers e unless the events have ended (Gone was sent, or Close),
// waiting for the consumer if the buffer is full. It reports whether e was
// delivered.
func (g *guest) emit(e Event) bool {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	g.emitMu.Lock()
	defer g.emitMu.Unlock()
	if g.eventsClosed {
		return false
	}
	select {
	case g.events <- e:
	case <-g.done:
		return false
	}
	if e.Kind == EventGone {
		g.eventsClosed = true
		close(g.events)
	}
	return true
}

// emitShutdown sends one EventShutdown: QEMU may report the end through
// several channels (QMP SHUTDOWN, the stub's exit reply, libvirt's
// lifecycle), and the owner needs to hear it once.
func (g *guest) emitShutdown(e Event) {
	g.shutdownOnce.Do(func() {
		g.emit(e)
		close(g.shutdown)
	})
}

// emitLifecycle is what lifecycle sources emit through.
func (g *guest) emitLifecycle(e Event) {
	if e.Kind == hintResumed {
		g.hintResume(e.Reason)
		return
	}
	if e.Kind == EventShutdown {
		g.emitShutdown(e)
		return
	}
	g.emit(e)
}

// goneGrace is how long the end of the connection waits for the lifecycle
// source's last word (QEMU's SHUTDOWN, libvirt's "stopped"), which races
// the stub's socket closing: the owner should hear why before "gone".
const goneGrace = 2 * time.Second

// watchGone reports the end of the stub's connection, which ends the
// target: nothing more can be done with the guest through it.
func (g *guest) watchGone(lifeDone <-chan struct{}) {
	select {
	case <-g.gdb.Done():
	case <-g.done:
		return
	}
	t := time.NewTimer(goneGrace)
	defer t.Stop()
	select {
	case <-lifeDone:
	case <-g.shutdown:
	case <-t.C:
	case <-g.done:
		return
	}
	g.emit(Event{Kind: EventGone, Err: g.gdb.Err()})
}
