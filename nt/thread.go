package nt

import (
	"context"
	"fmt"
)

// Thread is one ETHREAD.
type Thread struct {
	ETHREAD uint64 // kernel VA of the _ETHREAD (its Tcb is the KTHREAD)
	TID     uint64 // Cid.UniqueThread
	PID     uint64 // Cid.UniqueProcess
	// Process is the owner's EPROCESS (_KTHREAD.Process); AddressSpace
	// is the EPROCESS whose address space the thread runs in
	// (ApcState.Process). They differ while the thread is attached
	// (KeStackAttachProcess).
	Process, AddressSpace uint64
	State                 uint64 // KTHREAD_STATE
	Teb                   uint64
	StartAddress          uint64
	Win32StartAddress     uint64
}

// Attached reports whether the thread runs in another process's address
// space than its own.
func (t Thread) Attached() bool { return t.AddressSpace != 0 && t.AddressSpace != t.Process }

func (t Thread) String() string {
	return fmt.Sprintf("tid %d pid %d ETHREAD %#x state %d", t.TID, t.PID, t.ETHREAD, t.State)
}

// eprocessOf turns a KPROCESS pointer into its EPROCESS.
func (k *Kernel) eprocessOf(kprocess uint64) (uint64, error) {
	if kprocess == 0 {
		return 0, nil
	}
	off, err := k.lay.offset("_EPROCESS.Pcb")
	return kprocess - off, err
}

// ethreadOf turns a KTHREAD pointer into its ETHREAD.
func (k *Kernel) ethreadOf(kthread uint64) (uint64, error) {
	off, err := k.lay.offset("_ETHREAD.Tcb")
	return kthread - off, err
}

// ThreadAt reads the ETHREAD at a kernel VA.
func (k *Kernel) ThreadAt(ethread uint64) (Thread, error) {
	o, err := k.readObject("_ETHREAD", k.dtb, ethread)
	if err != nil {
		return Thread{}, err
	}
	t := Thread{ETHREAD: ethread}
	var owner, space uint64
	for _, f := range []struct {
		path     string
		v        *uint64
		optional bool
	}{
		{"Cid.UniqueThread", &t.TID, false},
		{"Cid.UniqueProcess", &t.PID, false},
		{"Tcb.Process", &owner, false},
		{"Tcb.ApcState.Process", &space, false},
		{"Tcb.State", &t.State, true},
		{"Tcb.Teb", &t.Teb, true},
		{"StartAddress", &t.StartAddress, true},
		{"Win32StartAddress", &t.Win32StartAddress, true},
	} {
		if f.optional {
			*f.v, err = o.uintOr(f.path)
		} else {
			*f.v, err = o.uint(f.path)
		}
		if err != nil {
			return t, err
		}
	}
	if t.Process, err = k.eprocessOf(owner); err != nil {
		return t, err
	}
	if t.AddressSpace, err = k.eprocessOf(space); err != nil {
		return t, err
	}
	return t, nil
}

// Threads lists a process's threads (EPROCESS.ThreadListHead). On an
// error the threads read before it come with it.
func (k *Kernel) Threads(p Process) ([]Thread, error) {
	return k.ThreadsContext(context.Background(), p)
}

// ThreadsContext is Threads that stops when ctx ends.
func (k *Kernel) ThreadsContext(ctx context.Context, p Process) ([]Thread, error) {
	headOff, err := k.lay.offset("_EPROCESS.ThreadListHead")
	if err != nil {
		return nil, err
	}
	linkOff, err := k.lay.offset("_ETHREAD.ThreadListEntry")
	if err != nil {
		return nil, err
	}
	var out []Thread
	what := fmt.Sprintf("threads of pid %d", p.PID)
	err = k.walkList(what, k.dtb, p.EPROCESS+headOff, k.limits.Threads, func(link uint64) error {
		if err := walkDone(ctx, what); err != nil {
			return err
		}
		t, err := k.ThreadAt(link - linkOff)
		if err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	return out, err
}
