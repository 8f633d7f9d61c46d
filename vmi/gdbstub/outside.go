package gdbstub

import (
	"context"
	"errors"
)

// QEMU's stub is all-stop, and the guest has other masters: an operator's
// QMP "cont" or "virsh resume" runs a guest this client believes stopped,
// and the stub says nothing about it. Any byte sent then stops the guest
// again (the stub stops a running VM on every byte it reads), so a client
// with a stale view freezes the guest with its next request. Two things
// keep the view right:
//   - Resync: whoever hears of a resume (QMP RESUME, libvirt's "resumed"
//     event) and confirms it (query-status) tells the client, which then
//     treats the guest as running and sends nothing but 0x03;
//   - stray stops: a request that beats the news stops the guest (its
//     guard byte does), and the client undoes that once the request has
//     its reply, by resuming the guest (RestoreStrays).

// ErrNotResynced: Resync found the client's view changed since the caller
// looked (a newer stop, or requests in flight), so it kept it.
var ErrNotResynced = errors.New("gdbstub: the run state changed meanwhile; not resynced")

// Latest returns the run state and the Seq of the latest stop, whether or
// not its registers are in yet: what Resync compares against.
func (c *Client) Latest() (State, uint64) {
	st := c.e.snapshot()
	return st.state, st.seq
}

// Moves counts the stops the client has seen and the resumes it has
// sent. While it changes, the client's view of the run state is being
// kept current by traffic of its own (and a request that reaches a guest
// resumed behind its back is a stray stop, undone): only a client that
// sits still needs to be told of a resume (Resync).
func (c *Client) Moves() uint64 {
	st := c.e.snapshot()
	return st.seq + st.resumesSent
}

// Resumes counts the resumes behind the client's back it has learned of
// (Resync, undone stray stops), and says how it learned the latest.
func (c *Client) Resumes() (uint64, string) {
	st := c.e.snapshot()
	return st.resumes, st.resumeWhy
}

// Resync tells the client that the guest, which it believes stopped at
// stop seq, runs: someone resumed it behind the client's back. The client
// then counts it as running (only Interrupt talks to the stub, and the
// next stop is reported as usual). It fails with ErrNotResynced when the
// client's view changed since seq was read: a newer stop (the guest may
// have stopped again), or requests in flight (their guard byte will stop
// the guest, and that stop settles it).
func (c *Client) Resync(ctx context.Context, seq uint64, why string) error {
	done := make(chan bool, 1)
	if !c.e.post(func() { e := c.e; done <- e.resync(seq, why) }) {
		return c.e.closedErr()
	}
	select {
	case ok := <-done:
		if !ok {
			return ErrNotResynced
		}
		return nil
	case <-c.e.quit:
		return c.e.closedErr()
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// RestoreStrays turns on (or off) undoing stray stops: once the requests
// whose guard byte stopped a guest that was running behind the client's
// back have their replies, the client resumes the guest, as it was. It is
// off until the owner has taken charge of the guest (connecting stops a
// running guest the same way, and that stop is wanted), and Detach turns
// it off.
func (c *Client) RestoreStrays(on bool) {
	c.e.post(func() {
		c.e.restoreOn = on
		if !on {
			c.e.strayAt = 0
		}
	})
}

// WaitChange waits for the next change after (seq, resumes): a stop newer
// than seq whose registers are in, or a resume behind the client's back
// counted past resumes. A resume learned before a stop is reported first
// (call again for the stop).
func (c *Client) WaitChange(ctx context.Context, seq, resumes uint64) (*Stop, uint64, error) {
	for {
		st := c.e.snapshot()
		switch {
		case st.resumes > resumes:
			return nil, st.resumes, nil
		case st.err != nil:
			return nil, resumes, st.err
		case st.state != StateRunning && st.ready && st.stop != nil && st.seq > seq:
			return st.stop, resumes, nil
		}
		select {
		case <-st.changed:
		case <-ctx.Done():
			return nil, resumes, context.Cause(ctx)
		}
	}
}

// resync is Resync in the owner.
func (e *engine) resync(seq uint64, why string) bool {
	if e.resumed || e.st.state != StateStopped || e.seq != seq || e.inFlight() {
		return false
	}
	e.resumed = true
	e.strayAt = 0
	e.publish(func(p *published) {
		p.state = StateRunning
		p.regs, p.synced = nil, nil
		p.resumes++
		p.resumeWhy = why
	})
	return true
}

// inFlight says whether any request is sent or queued and not answered,
// or is to follow the next stop.
func (e *engine) inFlight() bool {
	return len(e.unacked) > 0 || len(e.awaiting) > 0 || len(e.sendQ) > 0 || len(e.afterStop) > 0
}

// maybeRestore resumes the guest after a stray stop, once nothing is in
// flight: the requests that caused it are answered and the stop's own
// register read is done. A newer stop, or a resume by a caller, cancels it
// (onStop and send see to that).
func (e *engine) maybeRestore() {
	if e.strayAt == 0 {
		return
	}
	if e.resumed || e.seq != e.strayAt || !e.restoreOn {
		e.strayAt = 0
		return
	}
	if e.inFlight() {
		return
	}
	e.strayAt = 0
	r := &request{payload: []byte("c"), kind: kindResume}
	newBatch(context.Background(), r)
	e.send(r)
	e.publish(func(p *published) {
		p.resumes++
		p.resumeWhy = "the guest had been resumed from outside Frost: a request stopped it, and Frost let it run on"
	})
}
