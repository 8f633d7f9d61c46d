package gdbstub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// reqKind says what a request's answer looks like.
type reqKind uint8

const (
	kindReply  reqKind = iota // one reply packet
	kindStop                  // "?": the reply is a stop packet
	kindResume                // c, vCont;c, vCont;s: no reply; the guest runs once the stub acks
)

// request is one packet to send and, once done, its reply.
type request struct {
	payload   []byte
	kind      reqKind
	essential bool // sent even after the batch's context ended: it restores stub state
	noAckNext bool // QStartNoAckMode: acks stop after its OK
	// needOK holds a resume back until these earlier requests of its
	// batch have answered OK, and drops it if one did not (a step-over
	// must not step with its breakpoint still in).
	needOK []*request
	// pipelined lets a resume go out in the same write as the requests
	// ahead of it, before their replies: QEMU answers them in order before
	// it resumes, and replies that come while the guest runs are not
	// acked (an ack would stop it). needOK deps not answered yet when it
	// goes out are then the caller's to check afterwards. It saves a round
	// trip per step-over.
	pipelined bool
	// afterCleanStep marks a resume that follows a step's stop (in the
	// step's afterStop): it is sent only if that stop ended the step
	// cleanly (a trap on the stepped vCPU, nobody else's pause, the guest
	// alive), and completed with errNotContinued otherwise.
	afterCleanStep bool
	stepped        ThreadID // the vCPU the step ran, for afterCleanStep
	// follows: the request is in its batch's afterStop, so a resume of
	// it does not carry that afterStop again (it is part of it).
	follows bool

	// Set by the owner.
	frame     []byte    // the encoded packet, kept for retransmission
	tries     int       // retransmissions so far
	deadline  time.Time // when a missing ack or reply poisons the connection
	batch     *batch
	reply     []byte
	err       error
	seq       uint64 // the stop sequence number when the reply arrived
	completed bool
}

// batch is requests sent back to back: no other batch's packets come
// between them.
type batch struct {
	ctx  context.Context
	reqs []*request
	next int // first request not yet sent
	left int // requests not yet complete
	done chan struct{}
	then func(*batch) // runs in the owner when the batch completes
	// afterStop is sent right after the stop that ends the batch's resume,
	// together with the stop's register read (a step-over's re-insert).
	// It is sent even if the caller's context has ended: it restores.
	afterStop []*request
	// stop is the stop that ended the batch's resume, once afterStop is
	// under way (set by the owner before afterStop completes).
	stop *Stop
}

// addAfterStop attaches requests to be sent after the stop.
func (b *batch) addAfterStop(reqs ...*request) {
	for _, r := range reqs {
		r.batch = b
		r.essential = true
		r.follows = true
	}
	b.afterStop = append(b.afterStop, reqs...)
	b.left += len(reqs)
}

func newBatch(ctx context.Context, reqs ...*request) *batch {
	b := &batch{ctx: ctx, reqs: reqs, left: len(reqs), done: make(chan struct{})}
	for _, r := range reqs {
		r.batch = b
	}
	return b
}

// State is the guest's run state as the client knows it.
type State int

const (
	StateStopped State = iota
	StateRunning
	StateExited
	StateClosed
)

func (s State) String() string {
	return [...]string{"stopped", "running", "exited", "closed"}[s]
}

// published is what callers may read of the owner's state, under mu.
type published struct {
	state   State
	stop    *Stop  // latest stop
	ready   bool   // stop's registers have been read (or given up)
	seq     uint64 // Seq of the latest stop
	changed chan struct{}
	// resumes counts the times the client learned that the guest had
	// been resumed behind its back (Resync, or a stray stop it undid);
	// resumeWhy says how it learned the latest.
	resumes   uint64
	resumeWhy string
	// resumesSent counts the resumes (c, s, vCont) this client sent.
	resumesSent uint64
	err         error                   // why the connection ended
	regs        map[ThreadID]*Registers // "g" snapshots taken since the latest stop
	synced      map[ThreadID]bool       // vCPUs "g" has synchronized since the latest stop
}

// Tunables of the owner.
const (
	defaultWindow       = 32               // measured: 32 pipelined m reads double throughput
	defaultReplyTimeout = 10 * time.Second // far above QEMU's sub-millisecond replies
	maxRetransmits      = 3                // a stub that rejects a packet 4 times will not take it
	maxBadFrames        = 3                // corrupt replies in a row before giving up
	initialPacketSize   = 1024             // until qSupported says otherwise
)

// engine is the connection's owner goroutine and what callers share with
// it.
type engine struct {
	conn         net.Conn
	window       int
	replyTimeout time.Duration

	// The inbox: what callers hand the owner. A caller adds to it, then
	// kicks the owner out of its blocking read by setting a read deadline
	// in the past. One goroutine thus does all reading and writing, and a
	// reply reaches its caller in one hand-off instead of passing through
	// a reader goroutine first (each hand-off can cost a thread wake-up,
	// which the benchmarks showed on a busy 2-core host).
	inMu     sync.Mutex
	inBatch  []*batch
	inIntr   []chan intrReply
	inOps    []func() // run by the owner, in order (Resync, RestoreStrays)
	inClose  bool
	inClosed bool          // the owner is gone: nothing more is taken
	quit     chan struct{} // closed when the owner has finished
	closeMu  sync.Once

	regMap     atomic.Pointer[RegisterMap] // set after target.xml; enables "g" after stops
	packetSize atomic.Int64

	mu sync.Mutex
	st published

	// Owner-only state.
	dec       *decoder
	sendQ     []*batch
	unacked   []*request // sent, awaiting '+', in send order
	awaiting  []*request // acked, awaiting a reply, in ack order
	out       []byte     // bytes to write, in order
	urgent    bool       // out holds more than acks: write it now
	prefixed  bool       // out already starts a request run with the '+' guard
	noAck     bool
	resumed   bool       // a resume was sent and no stop has come since
	afterStop []*request // to send right after the next stop
	badFrames int
	seq       uint64
	// intrSent: 0x03 went out and its stop has not come yet, so a T02 is
	// ours, not an outside pause.
	intrSent bool
	// restoreOn: a stray stop (our packet stopped a guest resumed behind
	// our back) is undone by resuming the guest (RestoreStrays).
	restoreOn bool
	// strayAt is the Seq of a stray stop to undo once the requests that
	// caused it have their replies; 0 when there is none.
	strayAt uint64

	// rtt counts round trips, for metrics (stats.go).
	rtt rttStats
}

// writeSlice bounds one write: if the stub is not reading (it may itself
// be blocked writing replies to us), the owner goes back to reading
// instead of blocking, and writes the rest afterwards.
const writeSlice = 10 * time.Millisecond

// aLongTimeAgo is the read deadline that kicks the owner out of a read.
var aLongTimeAgo = time.Unix(1, 0)

func newEngine(conn net.Conn, window int, replyTimeout time.Duration) *engine {
	e := &engine{
		conn:         conn,
		window:       window,
		replyTimeout: replyTimeout,
		quit:         make(chan struct{}),
		dec:          newDecoder(),
	}
	e.packetSize.Store(initialPacketSize)
	e.st = published{state: StateStopped, changed: make(chan struct{})}
	go e.run()
	return e
}

// run is the owner: it takes what callers handed in, sends what may be
// sent, and reads until there is something new to do.
func (e *engine) run() {
	buf := make([]byte, 64<<10)
	for {
		if e.takeInbox() {
			e.die(nil)
			return
		}
		e.pump()
		e.maybeRestore()
		if err := e.flush(); err != nil {
			e.die(err)
			return
		}
		// The deadline covers what was just sent. Setting it may undo a
		// caller's kick, so the inbox is looked at once more afterwards;
		// a kick after that look still ends the read.
		e.conn.SetReadDeadline(e.readDeadline())
		if e.inboxPending() {
			continue
		}
		n, err := e.conn.Read(buf)
		if n > 0 {
			if err := e.dec.feed(buf[:n], e.onFrame); err != nil {
				e.die(err)
				return
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			// A kick, time to write more, or a reply overdue.
			if r := e.overdue(); r != nil {
				e.die(protocolErr("no answer to %q within %v; later replies could no longer be matched", short(r.payload), e.replyTimeout))
				return
			}
		default:
			e.die(err)
			return
		}
	}
}

// readDeadline is when the owner must stop reading: at the earliest reply
// deadline, or soon if bytes are still waiting to be written.
func (e *engine) readDeadline() time.Time {
	d, _ := e.earliestDeadline()
	if e.urgent {
		if soon := time.Now().Add(writeSlice); d.IsZero() || soon.Before(d) {
			d = soon
		}
	}
	return d
}

func (e *engine) inboxPending() bool {
	e.inMu.Lock()
	defer e.inMu.Unlock()
	return len(e.inBatch) > 0 || len(e.inIntr) > 0 || len(e.inOps) > 0 || e.inClose
}

// takeInbox admits what callers handed in; true means Close was called.
func (e *engine) takeInbox() bool {
	e.inMu.Lock()
	batches, intrs, ops, closing := e.inBatch, e.inIntr, e.inOps, e.inClose
	e.inBatch, e.inIntr, e.inOps = nil, nil, nil
	e.inMu.Unlock()
	for _, op := range ops {
		op()
	}
	for _, b := range batches {
		e.admit(b)
	}
	for _, reply := range intrs {
		e.onInterrupt(reply)
	}
	return closing
}

// admit queues a batch, or fails it when no packet may be sent.
func (e *engine) admit(b *batch) {
	switch {
	case e.st.state == StateExited:
		e.failBatch(b, ErrExited)
	case e.resumed:
		e.failBatch(b, ErrRunning)
	default:
		e.sendQ = append(e.sendQ, b)
	}
}

func (e *engine) failBatch(b *batch, err error) {
	for b.next < len(b.reqs) {
		r := b.reqs[b.next]
		b.next++
		e.fail(r, err)
	}
}

// fail completes an unsent request with err; a resume takes the requests
// that were to follow its stop with it.
func (e *engine) fail(r *request, err error) {
	e.complete(r, nil, err)
	if r.kind == kindResume && !r.follows {
		for _, f := range r.batch.afterStop {
			e.complete(f, nil, err)
		}
	}
}

// pump sends queued requests while the window has room.
func (e *engine) pump() {
	for len(e.sendQ) > 0 && len(e.unacked)+len(e.awaiting) < e.window {
		b := e.sendQ[0]
		if b.next == len(b.reqs) {
			e.sendQ = e.sendQ[1:]
			continue
		}
		if e.resumed {
			// Queued behind a resume: sending would stop the guest.
			e.failBatch(b, ErrRunning)
			continue
		}
		r := b.reqs[b.next]
		if r.kind == kindResume && !r.pipelined && len(e.unacked)+len(e.awaiting) > 0 {
			// Every reply before a resume must have come in, and its ack
			// gone out ahead of the resume: an ack that reaches QEMU after
			// the guest started is a byte sent to a running guest, and
			// stops it (a step then ends in T02 before it ran).
			return
		}
		b.next++
		if err := b.ctx.Err(); err != nil && !r.essential {
			e.fail(r, context.Cause(b.ctx))
			continue
		}
		if err := depsFailed(r); err != nil {
			e.fail(r, err)
			continue
		}
		if n := escapedLen(r.payload); n >= int(e.packetSize.Load()) {
			// QEMU silently drops a packet that overflows its buffer.
			e.fail(r, ErrPacketTooLarge)
			continue
		}
		e.send(r)
	}
}

// depsFailed says why a request held back by needOK may not go out. A
// pipelined request does not wait for its deps: those not answered yet
// are the caller's to check afterwards.
func depsFailed(r *request) error {
	for _, dep := range r.needOK {
		if r.pipelined && !dep.completed {
			continue
		}
		if err := checkOK(dep); err != nil {
			return fmt.Errorf("gdbstub: %s not sent: %s failed: %w", command(r.payload), command(dep.payload), err)
		}
	}
	return nil
}

func (e *engine) send(r *request) {
	if !e.prefixed {
		// A '+' ahead of every run of requests: if an operator resumed
		// the guest behind our back, this byte is the one QEMU spends on
		// stopping it, so no request is lost (the stub ignores a stray
		// '+' when stopped).
		e.out = append(e.out, '+')
		e.prefixed = true
	}
	r.frame = appendPacket(nil, r.payload)
	e.out = append(e.out, r.frame...)
	e.urgent = true
	r.deadline = time.Now().Add(e.replyTimeout)
	if r.kind == kindResume {
		// Nothing else may be sent now, so the guest counts as running
		// from here; the caller need not wait for the ack (the request
		// stays in line so that the ack still matches it).
		e.resumed = true
		if !r.follows {
			e.afterStop = append(e.afterStop, r.batch.afterStop...)
		}
		e.update(func(p *published) {
			p.state = StateRunning
			p.regs, p.synced = nil, nil
			p.resumesSent++
		})
		e.complete(r, nil, nil)
	}
	if e.noAck {
		e.acked(r)
		return
	}
	e.unacked = append(e.unacked, r)
}

// acked moves a request on once the stub has it.
func (e *engine) acked(r *request) {
	if r.kind == kindResume {
		return // completed when sent; it has no reply
	}
	r.deadline = time.Now().Add(e.replyTimeout)
	e.awaiting = append(e.awaiting, r)
}

// flush writes what is queued. Acks alone wait for the next packet:
// QEMU's system-mode stub never waits for an ack (it only forgets its
// last packet on one), and each separate write costs it a wake-up. They
// still always go out ahead of the next packet, and so ahead of any
// resume, where an ack arriving late would stop the guest. A write that
// does not finish within writeSlice keeps its rest for the next turn.
func (e *engine) flush() error {
	if !e.urgent {
		return nil
	}
	e.conn.SetWriteDeadline(time.Now().Add(writeSlice))
	n, err := e.conn.Write(e.out)
	e.out = append(e.out[:0], e.out[n:]...)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	if len(e.out) == 0 {
		e.urgent, e.prefixed = false, false
	}
	return nil
}

func (e *engine) onFrame(f frame) error {
	switch f.kind {
	case frameAck:
		if len(e.unacked) > 0 {
			r := e.unacked[0]
			e.unacked = e.unacked[1:]
			e.acked(r)
		}
		return nil
	case frameNak:
		return e.onNak()
	case frameNotify:
		return nil // non-stop mode only; this client runs all-stop
	}
	if f.err != nil {
		return e.onBadFrame(f.err)
	}
	e.badFrames = 0
	p := f.data
	if !e.noAck && (!e.resumed || isStopReply(p)) {
		// While the guest runs, only its stop reply is acked: any other
		// byte would stop it. (QEMU sends nothing else then.)
		e.out = append(e.out, '+')
	}
	switch {
	case isConsoleOutput(p):
		return nil
	case len(e.awaiting) > 0 && e.awaiting[0].kind == kindStop && isStopReply(p):
		r := e.awaiting[0]
		e.awaiting = e.awaiting[1:]
		if err := e.onStop(p, true); err != nil {
			return err
		}
		e.complete(r, p, nil)
	case isStopReply(p):
		return e.onStop(p, false)
	case len(e.awaiting) > 0:
		r := e.awaiting[0]
		e.awaiting = e.awaiting[1:]
		e.complete(r, p, nil)
		if r.noAckNext && string(p) == "OK" {
			e.noAck = true
		}
	default:
		return protocolErr("unexpected packet %q: no request awaits a reply", short(p))
	}
	return nil
}

// onNak retransmits the oldest unacknowledged packet. It goes to the back
// of the line: the stub acks (and answers) in the order it accepts
// packets, so later packets it already took answer first.
func (e *engine) onNak() error {
	if len(e.unacked) == 0 {
		return nil
	}
	r := e.unacked[0]
	if r.tries++; r.tries > maxRetransmits {
		return protocolErr("the stub rejected %q %d times", short(r.payload), r.tries)
	}
	e.unacked = append(e.unacked[1:], r)
	e.out = append(e.out, r.frame...)
	e.urgent = true
	r.deadline = time.Now().Add(e.replyTimeout)
	return nil
}

// onBadFrame handles a frame that failed its checksum or decoding. QEMU
// resends its last packet on '-', but forgets it as soon as it sees the
// next '+' or '$' from us; so a NAK helps only when nothing was sent after
// the request whose reply this is. Otherwise the reply is lost and every
// later one would be matched to the wrong request: the connection is
// poisoned instead.
func (e *engine) onBadFrame(err error) error {
	if err != errChecksum {
		return protocolErr("%v", err)
	}
	if e.noAck || len(e.unacked) > 0 || len(e.awaiting) > 1 {
		return protocolErr("corrupt packet from the stub with %d requests in flight", len(e.unacked)+len(e.awaiting))
	}
	if e.badFrames++; e.badFrames > maxBadFrames {
		return protocolErr("%d corrupt packets in a row", e.badFrames)
	}
	if !e.urgent {
		// Pending acks are for older packets, but QEMU takes any '+' as
		// the ack of its last one and would then have nothing to resend.
		e.out = e.out[:0]
	}
	e.out = append(e.out, '-')
	e.urgent = true
	return nil
}

// onStop records a stop and starts reading the stopped vCPU's registers:
// "g" after every stop, because under KVM "p" returns stale values until
// "g" has synchronized the vCPU, and a stop event must carry a consistent
// snapshot. asked says the stop answers a "?".
func (e *engine) onStop(p []byte, asked bool) error {
	s, err := parseStop(p)
	if err != nil {
		return err
	}
	// Who stopped the guest. A T02 without our 0x03 is someone else's
	// pause (QMP stop, virsh suspend, a dump) or, if it comes while we
	// believed the guest stopped and our packets are in flight, the guard
	// byte ahead of them stopping a guest resumed behind our back.
	behind := !e.resumed && !asked
	inFlight := len(e.unacked) > 0 || len(e.awaiting) > 0
	s.Outside = s.Signal == SignalInt && !e.intrSent && !asked && !s.Exited && !s.Terminated
	s.Stray = s.Outside && behind && inFlight
	e.intrSent = false
	e.strayAt = 0
	e.resumed = false
	e.seq++
	s.Seq = e.seq
	if s.Stray && e.restoreOn {
		e.strayAt = s.Seq
	}
	follow := e.afterStop
	e.afterStop = nil
	if len(follow) > 0 {
		follow[0].batch.stop = s
	}
	m := e.regMap.Load()
	fetch := m != nil && !s.Thread.IsZero() && !s.Exited && !s.Terminated
	change := e.publish
	if fetch {
		change = e.update // waiters wake once the registers are in
	}
	change(func(p *published) {
		p.state = StateStopped
		if s.Exited || s.Terminated {
			p.state = StateExited
		}
		p.stop, p.seq, p.ready = s, s.Seq, !fetch
		p.regs, p.synced = map[ThreadID]*Registers{}, map[ThreadID]bool{}
	})
	if s.Exited || s.Terminated {
		for _, r := range follow {
			e.complete(r, nil, ErrExited)
		}
		follow = nil
	}
	follow = e.dropUncleanResumes(s, follow)
	if !fetch {
		if len(follow) > 0 {
			e.enqueueFirst(&batch{ctx: context.Background(), reqs: follow, done: make(chan struct{})})
		}
		return nil
	}
	b := newBatch(context.Background(), selectThread(s.Thread), &request{payload: []byte("g")})
	// What was to follow the stop rides in the same write; it completes
	// into its own batch.
	b.reqs = append(b.reqs, follow...)
	b.then = func(b *batch) {
		regs, err := parseRegisters(m, s.Thread, b.reqs[1].reply)
		if err = firstErr(checkOK(b.reqs[0]), b.reqs[1].err, err); err != nil {
			regs = nil
		}
		e.publish(func(p *published) {
			if p.seq != s.Seq {
				return // a newer stop came first; its own fetch will finish it
			}
			s.Registers, s.RegistersErr, p.ready = regs, err, true
			// A resume may have followed in the same write (a step-over
			// that continues): the stop keeps its snapshot, but the guest
			// runs and has no current registers.
			if regs != nil && p.regs != nil {
				p.regs[s.Thread], p.synced[s.Thread] = regs, true
			}
		})
	}
	e.enqueueFirst(b)
	return nil
}

// enqueueFirst puts b ahead of every batch not yet started, so a stop's
// snapshot is taken before any caller's request that saw the stop.
func (e *engine) enqueueFirst(b *batch) {
	at := 0
	if len(e.sendQ) > 0 && e.sendQ[0].next > 0 {
		at = 1
	}
	e.sendQ = append(e.sendQ[:at], append([]*batch{b}, e.sendQ[at:]...)...)
}

// intrReply says whether 0x03 went out, and the latest stop before it.
type intrReply struct {
	sent bool
	seq  uint64
}

// onInterrupt sends 0x03 if the guest runs. It is the one byte that may be
// sent then; it carries no ack and its answer is a stop (T02).
func (e *engine) onInterrupt(reply chan intrReply) {
	if e.resumed {
		e.out = append(e.out, 0x03)
		e.urgent = true
		e.intrSent = true
	}
	reply <- intrReply{sent: e.resumed, seq: e.seq}
}

func (e *engine) complete(r *request, reply []byte, err error) {
	if r.completed {
		return // a resume, completed when sent, failing with the connection
	}
	r.completed = true
	r.reply, r.err, r.seq = reply, err, e.seq
	if err == nil && r.kind != kindResume && !r.deadline.IsZero() {
		// deadline is the send time plus the reply timeout.
		e.rtt.observe(time.Since(r.deadline.Add(-e.replyTimeout)))
	}
	b := r.batch
	if b.left--; b.left == 0 {
		if b.then != nil {
			b.then(b)
		}
		close(b.done)
	}
}

func (e *engine) earliestDeadline() (time.Time, bool) {
	var d time.Time
	for _, q := range [][]*request{e.unacked, e.awaiting} {
		for _, r := range q {
			if d.IsZero() || r.deadline.Before(d) {
				d = r.deadline
			}
		}
	}
	return d, !d.IsZero()
}

func (e *engine) overdue() *request {
	now := time.Now()
	for _, q := range [][]*request{e.unacked, e.awaiting} {
		for _, r := range q {
			if !now.Before(r.deadline) {
				return r
			}
		}
	}
	return nil
}

// die ends the connection: every request fails with the reason.
func (e *engine) die(cause error) {
	err := &ConnError{Err: cause}
	e.conn.Close()
	e.inMu.Lock()
	e.inClosed = true
	late := e.inBatch
	e.inBatch, e.inIntr = nil, nil
	e.inMu.Unlock()
	for _, b := range late {
		e.failBatch(b, err)
	}
	for _, q := range [][]*request{e.unacked, e.awaiting} {
		for _, r := range q {
			e.complete(r, nil, err)
		}
	}
	e.unacked, e.awaiting = nil, nil
	for _, b := range e.sendQ {
		e.failBatch(b, err)
	}
	e.sendQ = nil
	for _, r := range e.afterStop {
		e.complete(r, nil, err)
	}
	e.afterStop = nil
	e.publish(func(p *published) {
		p.state, p.err = StateClosed, err
	})
	close(e.quit) // callers blocked in do or interrupt see it and return err
}

// publish changes the shared state and wakes its waiters: for a stop
// that is ready, or the end of the connection.
func (e *engine) publish(change func(*published)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	change(&e.st)
	close(e.st.changed)
	e.st.changed = make(chan struct{})
}

// update changes the shared state without waking anyone: no waiter waits
// for a running guest or a stop whose registers are still being read, and
// each wake-up costs a thread hand-off.
func (e *engine) update(change func(*published)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	change(&e.st)
}

// snapshot returns the shared state and the channel closed at its next
// change.
func (e *engine) snapshot() published {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st
}

// post adds to the inbox and kicks the owner; false once it is gone.
func (e *engine) post(add func()) bool {
	e.inMu.Lock()
	if e.inClosed {
		e.inMu.Unlock()
		return false
	}
	add()
	e.inMu.Unlock()
	e.conn.SetReadDeadline(aLongTimeAgo)
	return true
}

// do submits a batch and waits for it, or for ctx. When ctx ends first the
// batch carries on in the owner (its late replies are still matched and
// dropped); only its unsent, non-essential requests are skipped.
func (e *engine) do(ctx context.Context, b *batch) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if !e.post(func() { e.inBatch = append(e.inBatch, b) }) {
		return e.closedErr()
	}
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// interrupt asks the owner to send 0x03 if the guest runs.
func (e *engine) interrupt(ctx context.Context) (intrReply, error) {
	reply := make(chan intrReply, 1)
	if !e.post(func() { e.inIntr = append(e.inIntr, reply) }) {
		return intrReply{}, e.closedErr()
	}
	select {
	case r := <-reply:
		return r, nil
	case <-e.quit:
		return intrReply{}, e.closedErr()
	case <-ctx.Done():
		return intrReply{}, context.Cause(ctx)
	}
}

func (e *engine) closedErr() error {
	if err := e.snapshot().err; err != nil {
		return err
	}
	return &ConnError{}
}

// close ends the connection without any protocol exchange.
func (e *engine) close() {
	e.closeMu.Do(func() { e.post(func() { e.inClose = true }) })
	<-e.quit
}

// waitStop waits until the guest is stopped with a stop newer than after,
// whose registers have been read.
func (e *engine) waitStop(ctx context.Context, after uint64) (*Stop, error) {
	for {
		st := e.snapshot()
		switch {
		case st.err != nil:
			return nil, st.err
		case st.state != StateRunning && st.ready && st.stop != nil && st.seq > after:
			return st.stop, nil
		case after == 0 && st.state == StateStopped && st.seq == 0:
			// Stopped (connecting to a paused guest sends nothing), but
			// no stop reply seen: only Attach's "?" can produce one.
			return nil, ErrNoStop
		}
		select {
		case <-st.changed:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// short trims a payload for error messages.
func short(p []byte) string {
	if len(p) > 40 {
		return string(p[:40]) + "..."
	}
	return string(p)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// errNotContinued completes a resume that was to follow a step's stop
// when that stop did not end the step cleanly: the guest stays stopped
// and the caller decides.
var errNotContinued = errors.New("gdbstub: the step did not end cleanly; not continued")

// dropUncleanResumes completes, unsent, the afterCleanStep resumes in
// follow when s is not the clean end of their step.
func (e *engine) dropUncleanResumes(s *Stop, follow []*request) []*request {
	out := follow[:0]
	for _, r := range follow {
		if r.afterCleanStep && (s.Signal != SignalTrap || s.Outside || s.Exited || s.Terminated || s.Thread != r.stepped) {
			e.complete(r, nil, errNotContinued)
			continue
		}
		out = append(out, r)
	}
	return out
}
