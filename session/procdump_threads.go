package session

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/frostvmi/frost/minidump"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/vmi"
)

// threads gives each of the process's threads its user-mode registers:
// a vCPU's own when the thread runs there in user mode (the guest is
// paused), otherwise the trap frame its last entry into the kernel left.
func (d *ProcessDump) threads(ctx context.Context, k *nt.Opened, memory []minidump.Range) ([]minidump.Thread, error) {
	ths, err := k.ThreadsContext(ctx, d.Process)
	if err != nil && len(ths) == 0 {
		return nil, fmt.Errorf("the threads of pid %d: %w", d.Process.PID, err)
	}
	onCPU := d.runningInUserMode(ctx, k)
	var out []minidump.Thread
	for _, th := range ths {
		mt := minidump.Thread{ID: uint32(th.TID), TEB: th.Teb}
		dt := DumpThread{TID: th.TID}
		if v, ok := onCPU[th.ETHREAD]; ok {
			mt.Context = vcpuContext(v.regs)
			dt.Context = fmt.Sprintf("vcpu %v", v.cpu)
		} else {
			mt.Context, dt.Context, dt.Note = trapFrameContext(k, th)
			if d.Live && dt.Context != "" {
				dt.Note = joinNote(dt.Note, "live dump: the thread may have returned to user mode since")
			}
		}
		dt.RIP = mt.Context.Rip
		if mt.Context.Flags != 0 {
			mt.Stack = stackRange(memory, mt.Context.Rsp)
		}
		out = append(out, mt)
		d.Threads = append(d.Threads, dt)
	}
	return out, nil
}

type vcpuRegs struct {
	cpu  vmi.CPU
	regs *vmi.Registers
}

// runningInUserMode maps the ETHREAD of each thread of the process that
// a stopped vCPU runs in user mode to that vCPU's registers. A live dump
// has none: a running vCPU's registers cannot be read.
func (d *ProcessDump) runningInUserMode(ctx context.Context, k *nt.Opened) map[uint64]vcpuRegs {
	out := map[uint64]vcpuRegs{}
	if d.Live {
		return out
	}
	cpus, err := d.s.Target.CPUs(ctx)
	if err != nil {
		return out
	}
	for _, cpu := range cpus {
		regs, err := d.s.Target.Registers(ctx, cpu)
		if err != nil {
			continue
		}
		if cs, err := regs.Uint("cs"); err != nil || cs&3 != 3 {
			continue // in the kernel: the trap frame has the user registers
		}
		c, err := k.Current(regs)
		if err != nil || c.Process.EPROCESS != d.Process.EPROCESS {
			continue
		}
		out[c.Thread.ETHREAD] = vcpuRegs{cpu, regs}
	}
	return out
}

// vcpuContext is a CONTEXT from a vCPU's registers: control, integer and
// segment registers, every one of which the vCPU has.
func vcpuContext(r *vmi.Registers) minidump.Context {
	u := func(name string) uint64 { v, _ := r.Uint(name); return v }
	return minidump.Context{
		Flags: minidump.ContextControl | minidump.ContextInteger | minidump.ContextSegments,
		SegCs: uint16(u("cs")), SegSs: uint16(u("ss")), SegDs: uint16(u("ds")), SegEs: uint16(u("es")),
		SegFs: uint16(u("fs")), SegGs: uint16(u("gs")), EFlags: uint32(u("eflags")),
		Rax: u("rax"), Rcx: u("rcx"), Rdx: u("rdx"), Rbx: u("rbx"), Rsp: u("rsp"), Rbp: u("rbp"),
		Rsi: u("rsi"), Rdi: u("rdi"), R8: u("r8"), R9: u("r9"), R10: u("r10"), R11: u("r11"),
		R12: u("r12"), R13: u("r13"), R14: u("r14"), R15: u("r15"), Rip: u("rip"),
	}
}

// trapFrameContext is a CONTEXT from the thread's trap frame, when that
// frame interrupted user mode. The control registers are always there;
// the integer group is filled from the registers the build's frame has,
// and those it lacks are zero and named in the note.
func trapFrameContext(k *nt.Opened, th nt.Thread) (minidump.Context, string, string) {
	tf, err := k.TrapFrame(th)
	if errors.Is(err, nt.ErrNoTrapFrame) {
		return minidump.Context{}, "", "no trap frame (the thread never entered the kernel)"
	}
	if err != nil {
		return minidump.Context{}, "", "trap frame unreadable: " + err.Error()
	}
	if !tf.UserMode {
		return minidump.Context{}, "", fmt.Sprintf("its trap frame at %#x interrupted kernel mode (cs %#x): no user registers", tf.Addr, tf.CS)
	}
	c := minidump.Context{
		Flags: minidump.ContextControl,
		Rip:   tf.RIP, Rsp: tf.RSP, EFlags: uint32(tf.EFlags), SegCs: tf.CS, SegSs: tf.SS,
	}
	regs := map[string]*uint64{
		"rax": &c.Rax, "rcx": &c.Rcx, "rdx": &c.Rdx, "rbx": &c.Rbx, "rbp": &c.Rbp, "rsi": &c.Rsi, "rdi": &c.Rdi,
		"r8": &c.R8, "r9": &c.R9, "r10": &c.R10, "r11": &c.R11, "r12": &c.R12, "r13": &c.R13, "r14": &c.R14, "r15": &c.R15,
	}
	var missing []string
	for name, p := range regs {
		if v, ok := tf.GPR[name]; ok {
			*p = v
			c.Flags |= minidump.ContextInteger
		} else {
			missing = append(missing, name)
		}
	}
	note := ""
	if len(missing) == len(regs) {
		note = "the kernel's trap frame saves no integer registers"
	} else if len(missing) > 0 {
		sort.Strings(missing)
		note = fmt.Sprintf("%s not saved in this kernel's trap frame (0 in the context)", strings.Join(missing, " "))
	}
	return c, fmt.Sprintf("trap frame at %#x", tf.Addr), note
}

// stackRange is the thread's stack as far as the memory list holds it:
// from RSP's page to the end of the range that holds RSP.
func stackRange(memory []minidump.Range, rsp uint64) minidump.Range {
	i := sort.Search(len(memory), func(i int) bool { return memory[i].End() > rsp })
	if i < len(memory) && memory[i].Base <= rsp {
		base := rsp &^ (dumpPage - 1)
		return minidump.Range{Base: base, Size: memory[i].End() - base}
	}
	return minidump.Range{Base: rsp}
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
