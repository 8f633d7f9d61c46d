package breakpoints

import (
	"fmt"
	"slices"
	"sync"

	"github.com/frostvmi/frost/vmi"
)

// Edits are register and memory changes staged during a hit. They reach
// the guest together just before it resumes, or not at all: a handler
// that fails, or an ack that comes too late, loses them whole.
//
// Register edits apply to the vCPU that hit. When several handlers change
// the same register, the last observer added wins.
type Edits struct {
	mu   sync.Mutex
	done bool
	// regs holds the staged register file (a clone of the hit's), touched
	// the names changed in it, in order.
	regs    *vmi.Registers
	base    *vmi.Registers
	touched []string
	mem     []memWrite
}

type memWrite struct {
	gpa  uint64
	data []byte
}

func newEdits(regs *vmi.Registers) *Edits {
	return &Edits{base: regs}
}

// staging returns the staged register file, cloning the hit's on first
// use; e.mu is held.
func (e *Edits) staging() (*vmi.Registers, error) {
	if e.done {
		return nil, ErrFrameDone
	}
	if e.regs == nil {
		if e.base == nil {
			return nil, fmt.Errorf("breakpoints: the hit has no register snapshot to edit")
		}
		e.regs = e.base.Clone()
	}
	return e.regs, nil
}

func (e *Edits) touch(name string) {
	if !slices.Contains(e.touched, name) {
		e.touched = append(e.touched, name)
	}
}

// SetRegister stages a register of at most 64 bits, e.g. "rax" or "rip".
// An unknown name or a wider register is an error now, not at resume.
func (e *Edits) SetRegister(name string, v uint64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	regs, err := e.staging()
	if err != nil {
		return err
	}
	if err := regs.SetUint(name, v); err != nil {
		return err
	}
	e.touch(name)
	return nil
}

// SetRegisterBytes stages a register's value in target byte order.
func (e *Edits) SetRegisterBytes(name string, b []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	regs, err := e.staging()
	if err != nil {
		return err
	}
	if err := regs.SetBytes(name, b); err != nil {
		return err
	}
	e.touch(name)
	return nil
}

// Register returns a register as staged so far (the hit's value if no
// edit touched it).
func (e *Edits) Register(name string) (uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.regs != nil {
		return e.regs.Uint(name)
	}
	if e.base == nil {
		return 0, fmt.Errorf("breakpoints: the hit has no register snapshot")
	}
	return e.base.Uint(name)
}

// WritePhysical stages a write of data at guest-physical address gpa. The
// data is copied.
func (e *Edits) WritePhysical(gpa uint64, data []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return ErrFrameDone
	}
	e.mem = append(e.mem, memWrite{gpa: gpa, data: slices.Clone(data)})
	return nil
}

// seal ends staging and reports whether the edits were still open: after
// it, every staging call fails with ErrFrameDone and the edits are the
// manager's to apply or drop.
func (e *Edits) seal() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	was := !e.done
	e.done = true
	return was
}

// closed reports whether staging has ended.
func (e *Edits) closed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.done
}

// mergeInto copies the staged registers into final; the edits must be
// sealed.
func (e *Edits) mergeInto(final *vmi.Registers) error {
	for _, name := range e.touched {
		b, err := e.regs.Bytes(name)
		if err != nil {
			return err
		}
		if err := final.SetBytes(name, b); err != nil {
			return err
		}
	}
	return nil
}
