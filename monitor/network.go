package monitor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/translate"
)

// Direction is which way a frame went.
type Direction int

const (
	// Send: handed to NdisSendNetBufferLists by a protocol (the sender's
	// thread: a process for its frames, System for the kernel's replies).
	Send Direction = iota + 1
	// Receive: indicated by the miniport through
	// NdisMIndicateReceiveNetBufferLists.
	Receive
)

func (d Direction) String() string {
	switch d {
	case Send:
		return "out"
	case Receive:
		return "in"
	}
	return "?"
}

// FrameEvent is one frame that crossed NDIS.
type FrameEvent struct {
	// Seq numbers the monitor's frames from 1, filtered-out ones
	// excluded; a gap is frames lost (Counters says how many).
	Seq uint64
	// Time is the host's UTC time of the stop; Since is monotonic from the
	// monitor's start.
	Time  time.Time
	Since time.Duration
	CPU   string

	Direction Direction
	// Interface is the call's first argument: the NdisBindingHandle of a
	// send, the MiniportAdapterHandle of a receive.
	Interface uint64
	// NBL and NB are the frame's structures; Index its place among the
	// call's frames (from 0).
	NBL, NB uint64
	Index   int

	PID, TID uint64
	Process  string
	// AttachedTo names the address space's process when the thread runs
	// attached to another; AttributionErr says why PID/TID/Process are
	// empty (the frame is delivered all the same).
	AttachedTo     string
	AttributionErr string

	// Length is the frame's DataLength; Frame the bytes, whole, or nil
	// when Unreadable says why they could not be read.
	Length     uint64
	Frame      []byte
	Unreadable string

	Decoded Decoded
	// Stack is the sender's call stack at the call, when asked for.
	Stack *nt.Stack
}

// Counters are a monitor's totals so far.
type Counters struct {
	Calls  uint64 // hits of the send and receive functions
	Frames uint64 // frames delivered (readable or not)
	Bytes  uint64 // bytes of the frames delivered
	// Filtered frames did not match the expression.
	Filtered uint64
	// Lost frames: the consumer's queue was full.
	Lost uint64
	// Unreadable frames (delivered, without bytes), by reason; a reason is
	// the error's text with addresses, so a few distinct ones are kept and
	// the rest counted under "other".
	Unreadable uint64
	Reasons    map[string]uint64
	// ChainErrors are calls whose NBL chain could not be walked to its
	// end (the frames before the failure were delivered).
	ChainErrors uint64
	LastError   string
}

// maxReasons bounds the distinct reasons kept.
const maxReasons = 16

// NetworkOptions configure a network monitor.
type NetworkOptions struct {
	// Filter selects frames by the current process; it is applied in the
	// manager, before any read.
	Filter Filter
	// Expr selects frames by their layers (nil: all).
	Expr *Expr
	// Stack unwinds the current thread's call stack at each call that has
	// a frame to deliver, through Symbolizer.
	Stack      bool
	StackDepth int
	Symbolizer *nt.Symbolizer
	// Limits bound the walk of each call's NBL chain.
	Limits nt.NetLimits
	// Queue bounds the frames waiting for the consumer; 0 means 4096.
	Queue int
	// Timeout is the handler's deadline; 0 keeps the manager's.
	Timeout time.Duration
	// Physical and Coherent are as in Options: without Coherent the
	// monitor reads through an uncached translator of its own over
	// Physical, since the guest runs between two hits.
	Physical translate.Physical
	Coherent bool
}

// Network monitors NDIS's send and receive functions.
type Network struct {
	mgr    *breakpoints.Manager
	k      *nt.Kernel
	ndis   nt.Ndis
	opt    NetworkOptions
	began  time.Time
	events chan FrameEvent
	ids    []breakpoints.ID
	armed  []NetArmed

	seq       atomic.Uint64
	closeOnce sync.Once
	mu        sync.Mutex // guards counters, and sending against closing
	closed    bool
	c         Counters
}

// NetArmed is one armed breakpoint of the monitor.
type NetArmed struct {
	Direction Direction
	Function  nt.Symbol
	Armed     breakpoints.Armed
}

// WatchNetwork arms breakpoints on ndis's send and receive functions; k
// reads the frames (see NetworkOptions.Coherent).
func WatchNetwork(ctx context.Context, mgr *breakpoints.Manager, k *nt.Kernel, ndis nt.Ndis, opt NetworkOptions) (*Network, error) {
	if mgr == nil || k == nil || ndis.Layout == nil || (!opt.Coherent && opt.Physical == nil) {
		return nil, errors.New("monitor: the network monitor needs a breakpoint manager, a kernel, NDIS's layout and guest-physical memory")
	}
	if !opt.Coherent {
		var err error
		if k, err = uncached(k, opt.Physical); err != nil {
			return nil, err
		}
	}
	if opt.Stack && opt.Symbolizer == nil {
		return nil, errors.New("monitor: stacks need a symbolizer")
	}
	if opt.Queue <= 0 {
		opt.Queue = 4096
	}
	n := &Network{mgr: mgr, k: k, ndis: ndis, opt: opt, began: time.Now(), events: make(chan FrameEvent, opt.Queue)}
	n.c.Reasons = map[string]uint64{}
	var pf breakpoints.ProcessPredicate
	if len(opt.Filter.Processes) > 0 || len(opt.Filter.PIDs) > 0 {
		pf = ProcessFilter(k, opt.Filter)
	}
	for _, fn := range []struct {
		dir Direction
		sym nt.Symbol
	}{{Send, ndis.Send}, {Receive, ndis.Receive}} {
		dir := fn.dir
		spec := breakpoints.Spec{
			Addr: fn.sym.Addr, Timeout: opt.Timeout, Owner: "monitor:network:" + fn.sym.String(),
			Handler: func(ctx context.Context, f *breakpoints.Frame) error { return n.hit(ctx, f, dir) },
			OnDrop:  func(breakpoints.ID, error) { n.finish() },
		}
		spec.Filter.Process = pf
		a, err := mgr.Add(ctx, spec)
		if err != nil {
			n.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("monitor: arming %s at %#x: %w", fn.sym, fn.sym.Addr, err)
		}
		n.ids = append(n.ids, a.ID)
		n.armed = append(n.armed, NetArmed{Direction: dir, Function: fn.sym, Armed: a})
	}
	return n, nil
}

// Armed lists the breakpoints: send first, then receive.
func (n *Network) Armed() []NetArmed { return n.armed }

// Ndis is what the monitor watches.
func (n *Network) Ndis() nt.Ndis { return n.ndis }

// Events delivers the frames. It is closed when the monitor is closed or a
// breakpoint is dropped (a guest reset, the target gone).
func (n *Network) Events() <-chan FrameEvent { return n.events }

// Counters returns the totals so far.
func (n *Network) Counters() Counters {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.c
	c.Reasons = make(map[string]uint64, len(n.c.Reasons))
	for k, v := range n.c.Reasons {
		c.Reasons[k] = v
	}
	return c
}

// Close removes the breakpoints and closes Events.
func (n *Network) Close(ctx context.Context) error {
	var errs []error
	for _, id := range n.ids {
		err := n.mgr.Remove(ctx, id)
		if err != nil && !errors.Is(err, breakpoints.ErrUnknown) && !errors.Is(err, breakpoints.ErrClosed) && !errors.Is(err, breakpoints.ErrGone) {
			errs = append(errs, err)
		}
	}
	n.finish()
	return errors.Join(errs...)
}

func (n *Network) finish() {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		close(n.events)
		n.mu.Unlock()
	})
}

// hit reads every frame of one call while the guest is stopped at the
// function's first instruction: the NBLs are the caller's (a send) or the
// miniport's (a receive) only until the call returns.
func (n *Network) hit(ctx context.Context, f *breakpoints.Frame, dir Direction) error {
	n.mu.Lock()
	n.c.Calls++
	n.mu.Unlock()
	iface, err := f.Regs.Uint("rcx")
	if err != nil {
		return fmt.Errorf("monitor: the handle argument: %w", err)
	}
	head, err := f.Regs.Uint("rdx")
	if err != nil {
		return fmt.Errorf("monitor: the NetBufferLists argument: %w", err)
	}
	cr3, err := f.Regs.Uint("cr3")
	if err != nil {
		return fmt.Errorf("monitor: cr3: %w", err)
	}
	base := FrameEvent{Time: f.Time.UTC(), Since: f.Time.Sub(n.began), CPU: f.CPU.String(), Direction: dir, Interface: iface}
	var cur *nt.Current
	if c, err := n.k.Current(f.Regs); err != nil {
		base.AttributionErr = err.Error()
	} else {
		cur = &c
		base.PID, base.TID, base.Process = c.Process.PID, c.Thread.TID, c.Process.Name
		if c.Attached() {
			base.AttachedTo = c.AddressSpace.Name
		}
	}
	frames, walkErr := n.k.NetBufferLists(n.ndis.Layout, cr3, head, n.opt.Limits)
	var stack *nt.Stack
	for _, fr := range frames {
		e := base
		e.NBL, e.NB, e.Index, e.Length = fr.NBL, fr.NB, fr.Index, fr.Length
		if fr.Err != nil {
			e.Unreadable = fr.Err.Error()
		} else {
			e.Frame = fr.Data
			e.Decoded = Decode(fr.Data)
			if !n.opt.Expr.Match(&e.Decoded) {
				n.mu.Lock()
				n.c.Filtered++
				n.mu.Unlock()
				continue
			}
		}
		if n.opt.Stack && stack == nil {
			stack = n.stack(ctx, f, cr3, cur)
		}
		e.Stack = stack
		n.deliver(e, fr.Err)
	}
	if walkErr != nil {
		n.mu.Lock()
		n.c.ChainErrors++
		n.c.LastError = fmt.Sprintf("%s NBL chain at %#x: %v", dir, head, walkErr)
		n.mu.Unlock()
	}
	return nil
}

func (n *Network) stack(ctx context.Context, f *breakpoints.Frame, cr3 uint64, cur *nt.Current) *nt.Stack {
	regs, err := nt.UnwindRegisters(f.Regs)
	if err != nil {
		return &nt.Stack{Err: err}
	}
	var p *nt.Process
	if cur != nil {
		p = &cur.AddressSpace
	}
	st := n.opt.Symbolizer.Stack(ctx, cr3, p, regs, n.opt.StackDepth)
	return &st
}

// deliver queues e, or counts it lost: the guest never waits for the
// consumer.
func (n *Network) deliver(e FrameEvent, unreadable error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	if unreadable != nil {
		n.c.Unreadable++
		n.reason(unreadable)
	}
	e.Seq = n.seq.Add(1)
	select {
	case n.events <- e:
		n.c.Frames++
		n.c.Bytes += uint64(len(e.Frame))
	default:
		n.c.Lost++
	}
}

// reason counts an unreadable frame under its innermost error's text,
// which names the page state without the addresses of this frame.
func (n *Network) reason(err error) {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		err = u
	}
	r := err.Error()
	if _, ok := n.c.Reasons[r]; !ok && len(n.c.Reasons) >= maxReasons {
		r = "other"
	}
	n.c.Reasons[r]++
}
