package monitor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/translate"
)

// DefaultMaxData is how many bytes of each buffer an event carries unless
// the caller asks otherwise: enough for a log line or a file header.
const DefaultMaxData = 256

// MaxData bounds Options.MaxData: a guest's Length is untrusted, and one
// event must not copy megabytes while the guest waits.
const MaxData = 1 << 20

// WriteEvent is one NtWriteFile call, as the guest made it.
type WriteEvent struct {
	// Seq numbers the monitor's events from 1; a gap means lost events
	// (Lost says how many in total).
	Seq uint64
	// Time is the host's UTC time of the stop; Since is the monotonic time
	// of the stop since the monitor started, for ordering and rates.
	Time  time.Time
	Since time.Duration
	CPU   string

	PID     uint64
	Process string
	TID     uint64
	// AttachedTo names the process whose address space the thread ran in
	// when it differs from its owner (KeStackAttachProcess).
	AttachedTo string

	Handle uint64
	// File is the file's name relative to its volume, and Path the name
	// with its device; FileErr says why they are empty.
	File, Path string
	FileErr    string

	Length     uint32
	ByteOffset int64
	HasOffset  bool
	// Data is the start of the buffer (at most Options.MaxData bytes);
	// DataErr says why it is short or empty (the buffer's page was not
	// readable, e.g. paged out with no paging file supplied).
	Data    []byte
	DataErr string
}

// Filter selects the calls a monitor reports; empty fields select all.
type Filter struct {
	// Processes are image names (ImageFileName, case-insensitive).
	Processes []string
	PIDs      []uint64
}

func (f Filter) match(pid uint64, name string) bool {
	if len(f.Processes) == 0 && len(f.PIDs) == 0 {
		return true
	}
	for _, p := range f.PIDs {
		if p == pid {
			return true
		}
	}
	for _, n := range f.Processes {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// Options configure a monitor.
type Options struct {
	Filter Filter
	// MaxData is how many bytes of each buffer to copy; 0 means
	// DefaultMaxData, and it is capped at MaxData.
	MaxData int
	// Queue bounds the events waiting for the consumer; 0 means 1024.
	Queue int
	// Timeout is the handler's deadline; 0 keeps the manager's.
	Timeout time.Duration
	// Physical is guest-physical memory (vmi.ReaderAt of the target). The
	// monitor reads through a translator of its own over it, uncached,
	// since the guest runs between two hits, unless Coherent.
	Physical translate.Physical
	// Coherent says the kernel's own translator is told of every stop and
	// resume of the manager (a session's is: its manager's RunState), so
	// the monitor reads through it, cache and all, instead of a translator
	// of its own.
	Coherent bool
}

// NtWriteFile monitors nt!NtWriteFile.
type NtWriteFile struct {
	mgr    *breakpoints.Manager
	k      *nt.Kernel
	opt    Options
	id     breakpoints.ID
	armed  breakpoints.Armed
	began  time.Time
	events chan WriteEvent

	seq, lost atomic.Uint64
	closeOnce sync.Once
	mu        sync.Mutex // guards sending against closing events
	closed    bool
}

// WatchNtWriteFile arms the monitor on k's NtWriteFile.
func WatchNtWriteFile(ctx context.Context, mgr *breakpoints.Manager, k *nt.Kernel, opt Options) (*NtWriteFile, error) {
	if mgr == nil || k == nil || opt.Physical == nil {
		return nil, errors.New("monitor: NtWriteFile needs a breakpoint manager, a kernel and guest-physical memory")
	}
	if opt.MaxData <= 0 {
		opt.MaxData = DefaultMaxData
	}
	opt.MaxData = min(opt.MaxData, MaxData)
	if opt.Queue <= 0 {
		opt.Queue = 1024
	}
	own := k
	if !opt.Coherent {
		var err error
		if own, err = uncached(k, opt.Physical); err != nil {
			return nil, err
		}
	}
	va, err := own.Address("NtWriteFile")
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	w := &NtWriteFile{mgr: mgr, k: own, opt: opt, began: time.Now(), events: make(chan WriteEvent, opt.Queue)}
	spec := breakpoints.Spec{
		Addr: va, Handler: w.hit, Timeout: opt.Timeout, Owner: "monitor:NtWriteFile",
		OnDrop: func(breakpoints.ID, error) { w.finish() },
	}
	if len(opt.Filter.Processes) > 0 || len(opt.Filter.PIDs) > 0 {
		// Filtered in the manager, before the handler: a hit of another
		// process costs no argument reads.
		spec.Filter.Process = ProcessFilter(own, opt.Filter)
	}
	w.armed, err = mgr.Add(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("monitor: arming nt!NtWriteFile at %#x: %w", va, err)
	}
	w.id = w.armed.ID
	return w, nil
}

// uncached is a kernel model over its own translator without a cache:
// what a hit reads must be what the guest holds at that stop.
func uncached(k *nt.Kernel, phys translate.Physical) (*nt.Kernel, error) {
	tr, err := k.NewTranslator(nt.TranslatorOptions{Physical: phys, TLBEntries: -1})
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	own, err := nt.NewKernel(nt.KernelConfig{Base: k.Base(), Symbols: k.Symbols(), DTB: k.DTB(), Memory: nt.TranslatorMemory{T: tr}})
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	return own, nil
}

// Armed says where the monitor's breakpoint is and how it is placed.
func (w *NtWriteFile) Armed() breakpoints.Armed { return w.armed }

// Events delivers the calls. It is closed when the monitor is closed or
// its breakpoint is dropped (a guest reset, the target gone).
func (w *NtWriteFile) Events() <-chan WriteEvent { return w.events }

// Lost is how many events were dropped because the queue was full.
func (w *NtWriteFile) Lost() uint64 { return w.lost.Load() }

// Close removes the breakpoint and closes Events.
func (w *NtWriteFile) Close(ctx context.Context) error {
	err := w.mgr.Remove(ctx, w.id)
	if errors.Is(err, breakpoints.ErrUnknown) || errors.Is(err, breakpoints.ErrClosed) || errors.Is(err, breakpoints.ErrGone) {
		err = nil
	}
	w.finish()
	return err
}

func (w *NtWriteFile) finish() {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		close(w.events)
		w.mu.Unlock()
	})
}

// hit reads one call while the guest is stopped at NtWriteFile's first
// instruction.
func (w *NtWriteFile) hit(ctx context.Context, f *breakpoints.Frame) error {
	cur, err := w.k.Current(f.Regs)
	if err != nil {
		return fmt.Errorf("monitor: who called NtWriteFile: %w", err)
	}
	e := WriteEvent{
		Time: f.Time.UTC(), Since: f.Time.Sub(w.began), CPU: f.CPU.String(),
		PID: cur.Process.PID, Process: cur.Process.Name, TID: cur.Thread.TID,
	}
	if cur.Attached() {
		e.AttachedTo = cur.AddressSpace.Name
	}
	args, err := w.k.NtWriteFile(f.Regs)
	if err != nil {
		return fmt.Errorf("monitor: NtWriteFile's arguments: %w", err)
	}
	e.Handle, e.Length = args.FileHandle, args.Length
	if h, err := w.k.LookupHandle(cur.Process, args.FileHandle); err != nil {
		e.FileErr = err.Error()
	} else if h.File == nil {
		e.FileErr = fmt.Sprintf("handle %#x is a %s, not a file", args.FileHandle, h.Type)
	} else {
		e.File, e.Path = h.File.Name, h.File.Path()
	}
	if off, ok, err := w.k.ByteOffsetValue(f.Regs, args); err == nil {
		e.ByteOffset, e.HasOffset = off, ok
	}
	if n := min(int(args.Length), w.opt.MaxData); n > 0 {
		data := make([]byte, n)
		if err := w.k.ReadArgument(f.Regs, args.Buffer, data); err != nil {
			e.DataErr = err.Error()
		} else {
			e.Data = data
		}
	}
	w.deliver(e)
	return nil
}

// deliver queues e, or counts it lost: the guest never waits for the
// consumer.
func (w *NtWriteFile) deliver(e WriteEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	e.Seq = w.seq.Add(1)
	select {
	case w.events <- e:
	default:
		w.lost.Add(1)
	}
}
