package nt

import (
	"context"
	"fmt"
	"strings"
)

// Process is one EPROCESS on PsActiveProcessHead.
type Process struct {
	EPROCESS  uint64 // kernel VA of the _EPROCESS
	PID       uint64
	ParentPID uint64 // InheritedFromUniqueProcessId
	Name      string // ImageFileName (15 bytes at most, as Windows keeps it)
	// DTB is Pcb.DirectoryTableBase as stored; UserDTB is
	// Pcb.UserDirectoryTableBase (KVA shadow), 0 when absent or unused.
	DTB, UserDTB uint64
	Peb          uint64 // user VA of the PEB, 0 when the build has none
	ObjectTable  uint64 // _HANDLE_TABLE, 0 for a process without handles
	// CreateTime and ExitTime are FILETIMEs (see FileTime); 0 when the
	// build has no such member, or (ExitTime) the process runs.
	CreateTime, ExitTime uint64
}

func (p Process) String() string {
	return fmt.Sprintf("%s pid %d (parent %d) EPROCESS %#x DTB %#x", p.Name, p.PID, p.ParentPID, p.EPROCESS, p.DTB)
}

// dtbKey drops what CR3 and DirectoryTableBase carry besides the table's
// address (PCID in bits 0-11, the no-flush bit 63), so a CR3 compares equal
// to the DTB it loaded.
func dtbKey(v uint64) uint64 { return v &^ 0xfff &^ (1 << 63) }

// Processes lists PsActiveProcessHead in list order. On an error (a
// cycle, an unreadable entry) the processes read before it come with it.
func (k *Kernel) Processes() ([]Process, error) {
	var out []Process
	err := k.eachProcess(func(p Process) (bool, error) {
		out = append(out, p)
		return true, nil
	})
	return out, err
}

// ProcessesContext is Processes that stops when ctx ends.
func (k *Kernel) ProcessesContext(ctx context.Context) ([]Process, error) {
	var out []Process
	err := k.eachProcess(func(p Process) (bool, error) {
		if err := walkDone(ctx, "ActiveProcessLinks"); err != nil {
			return false, err
		}
		out = append(out, p)
		return true, nil
	})
	return out, err
}

// eachProcess walks PsActiveProcessHead; fn returns false to stop early.
func (k *Kernel) eachProcess(fn func(Process) (bool, error)) error {
	head, err := k.global("PsActiveProcessHead")
	if err != nil {
		return err
	}
	linkOff, err := k.lay.offset("_EPROCESS.ActiveProcessLinks")
	if err != nil {
		return err
	}
	errStop := fmt.Errorf("stop")
	err = k.walkList("ActiveProcessLinks", k.dtb, head, k.limits.Processes, func(link uint64) error {
		p, err := k.ProcessAt(link - linkOff)
		if err != nil {
			return err
		}
		more, err := fn(p)
		if err != nil {
			return err
		}
		if !more {
			return errStop
		}
		return nil
	})
	if err == errStop {
		return nil
	}
	return err
}

// ProcessAt reads the EPROCESS at a kernel VA.
func (k *Kernel) ProcessAt(eprocess uint64) (Process, error) {
	o, err := k.readObject("_EPROCESS", k.dtb, eprocess)
	if err != nil {
		return Process{}, err
	}
	p := Process{EPROCESS: eprocess}
	if p.PID, err = o.uint("UniqueProcessId"); err != nil {
		return p, err
	}
	if p.ParentPID, err = o.uintOr("InheritedFromUniqueProcessId"); err != nil {
		return p, err
	}
	if p.DTB, err = o.uint("Pcb.DirectoryTableBase"); err != nil {
		return p, err
	}
	if p.UserDTB, err = o.uintOr("Pcb.UserDirectoryTableBase"); err != nil {
		return p, err
	}
	if p.Peb, err = o.uintOr("Peb"); err != nil {
		return p, err
	}
	if p.ObjectTable, err = o.uintOr("ObjectTable"); err != nil {
		return p, err
	}
	if p.CreateTime, err = o.uintOr("CreateTime"); err != nil {
		return p, err
	}
	if p.ExitTime, err = o.uintOr("ExitTime"); err != nil {
		return p, err
	}
	name, err := o.bytes("ImageFileName")
	if err != nil {
		return p, err
	}
	p.Name = cString(name)
	return p, nil
}

// cString reads a NUL-terminated 8-bit name as Latin-1, so any byte the
// guest stored becomes a valid rune.
func cString(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// ProcessByPID finds a process by its id.
func (k *Kernel) ProcessByPID(pid uint64) (Process, error) {
	var found *Process
	err := k.eachProcess(func(p Process) (bool, error) {
		if p.PID == pid {
			found = &p
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return Process{}, err
	}
	if found == nil {
		return Process{}, fmt.Errorf("%w: pid %d", ErrNoProcess, pid)
	}
	return *found, nil
}

// ProcessByName finds the first process whose ImageFileName matches name
// (case-insensitively, as Windows compares image names).
func (k *Kernel) ProcessByName(name string) (Process, error) {
	var found *Process
	err := k.eachProcess(func(p Process) (bool, error) {
		if strings.EqualFold(p.Name, name) {
			found = &p
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return Process{}, err
	}
	if found == nil {
		return Process{}, fmt.Errorf("%w: name %q", ErrNoProcess, name)
	}
	return *found, nil
}

// ProcessByDTB finds the process whose DirectoryTableBase or
// UserDirectoryTableBase is dtb (a CR3 value is accepted: PCID and bit 63
// are ignored). Several processes may share the kernel's DTB (Idle,
// System); the first on the list wins.
func (k *Kernel) ProcessByDTB(dtb uint64) (Process, error) {
	key := dtbKey(dtb)
	var found *Process
	err := k.eachProcess(func(p Process) (bool, error) {
		if dtbKey(p.DTB) == key || (p.UserDTB != 0 && dtbKey(p.UserDTB) == key) {
			found = &p
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return Process{}, err
	}
	if found == nil {
		return Process{}, fmt.Errorf("%w: DTB %#x", ErrNoProcess, dtb)
	}
	return *found, nil
}
