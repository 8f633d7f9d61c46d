package nt

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoTrapFrame: the thread's KTHREAD.TrapFrame is null (a system thread,
// or one that has never entered the kernel from an interrupt or a call).
var ErrNoTrapFrame = errors.New("nt: thread has no trap frame")

// TrapFrame is the register state a thread's last entry into the kernel
// saved (_KTHREAD.TrapFrame → _KTRAP_FRAME). For a user thread blocked in
// a system call it is the thread's user-mode context: where to resume in
// user mode, and the first frame of its user stack.
type TrapFrame struct {
	// Addr is the _KTRAP_FRAME's kernel VA.
	Addr uint64
	// RIP, RSP and EFlags are the interrupted code's, as the CPU (or the
	// syscall entry) pushed them. RBP is 0 when the build's frame lacks it.
	RIP, RSP, RBP, EFlags uint64
	// CS and SS are the interrupted code's selectors; SS is 0 when the
	// build's frame lacks it.
	CS, SS uint16
	// GPR holds every general-purpose register the build's _KTRAP_FRAME
	// has a field for, by lower-case name ("rax", "r8", "rbp", "rsp",
	// ...). A register missing here is one this kernel does not save in
	// its trap frame (Windows 10 keeps R12–R15 in the exception frame),
	// not a zero.
	GPR map[string]uint64
	// UserMode reports whether the frame interrupted ring 3: CS's
	// requested privilege level, which the CPU pushed with it.
	UserMode bool
}

// trapFrameGPRs are the registers a trap frame may save, by their
// _KTRAP_FRAME member names. Names, not offsets: which of them a build
// has, and where, comes from its PDB.
var trapFrameGPRs = []string{
	"Rax", "Rbx", "Rcx", "Rdx", "Rsi", "Rdi", "Rbp", "Rsp",
	"R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15",
}

// TrapFrame reads th's _KTHREAD.TrapFrame. It is ErrNoTrapFrame when the
// pointer is null. The frame is as the thread's last kernel entry left
// it: for a thread running in user mode right now it is stale, and the
// vCPU's own registers are the truth.
func (k *Kernel) TrapFrame(th Thread) (TrapFrame, error) {
	o, err := k.readObject("_ETHREAD", k.dtb, th.ETHREAD)
	if err != nil {
		return TrapFrame{}, err
	}
	addr, err := o.uint("Tcb.TrapFrame")
	if err != nil {
		return TrapFrame{}, err
	}
	if addr == 0 {
		return TrapFrame{}, fmt.Errorf("%w (tid %d)", ErrNoTrapFrame, th.TID)
	}
	// A trap frame lives on the thread's kernel stack: anything else is
	// not a frame this kernel wrote.
	if addr < 1<<63 {
		return TrapFrame{}, &WalkError{What: fmt.Sprintf("trap frame of tid %d", th.TID), At: addr, Err: ErrCorrupt, Msg: "KTHREAD.TrapFrame is not a kernel address"}
	}
	return k.TrapFrameAt(addr)
}

// TrapFrameAt reads the _KTRAP_FRAME at a kernel VA.
func (k *Kernel) TrapFrameAt(addr uint64) (TrapFrame, error) {
	f, err := k.readObject("_KTRAP_FRAME", k.dtb, addr)
	if err != nil {
		return TrapFrame{}, err
	}
	tf := TrapFrame{Addr: addr, GPR: map[string]uint64{}}
	// Rip, Rsp, SegCs and EFlags are what the CPU pushes on every kernel
	// entry; a _KTRAP_FRAME without them is not one.
	var cs, ss uint64
	for _, r := range []struct {
		name string
		v    *uint64
	}{{"Rip", &tf.RIP}, {"Rsp", &tf.RSP}, {"SegCs", &cs}, {"EFlags", &tf.EFlags}} {
		if *r.v, err = f.uint(r.name); err != nil {
			return TrapFrame{}, err
		}
	}
	if ss, err = f.uintOr("SegSs"); err != nil {
		return TrapFrame{}, err
	}
	for _, name := range trapFrameGPRs {
		if !k.lay.has("_KTRAP_FRAME." + name) {
			continue
		}
		v, err := f.uint(name)
		if err != nil {
			return TrapFrame{}, err
		}
		tf.GPR[strings.ToLower(name)] = v
	}
	tf.RBP = tf.GPR["rbp"]
	tf.CS, tf.SS = uint16(cs), uint16(ss)
	tf.UserMode = cs&3 == 3
	return tf, nil
}
