package breakpoints

import (
	"time"

	"github.com/frostvmi/frost/vmi"
)

// maxInstruction is the longest x86 instruction: a step that executed the
// breakpoint's instruction and nothing else ends within it, or at a branch
// target.
const maxInstruction = 15

// eflagsIF is the interrupt flag.
const eflagsIF = 1 << 9

// suppression remembers a hit whose step-over took an interrupt: the
// vCPU ran the interrupt handler instead of the instruction, re-armed
// the breakpoint, and the handler's iretq lands on it again. That second
// stop is the same call, not a new one.
type suppression struct {
	hit   *Hit
	until time.Time
}

// noteStep looks at the stop a step-over ended in. QEMU's stub masks
// interrupts during a step where it can (TCG); where it cannot, the step
// ends at an interrupt handler's first instruction: away from the
// breakpoint and with IF cleared by the interrupt gate, though it was set
// at the hit.
func (m *Manager) noteStep(h *Hit, step *vmi.Stop) {
	if step == nil || step.Registers == nil {
		return
	}
	rip, err := step.Registers.Uint("rip")
	if err != nil || (rip >= h.Addr && rip <= h.Addr+maxInstruction) {
		return
	}
	before, err1 := h.Regs.Uint("eflags")
	after, err2 := step.Registers.Uint("eflags")
	if err1 != nil || err2 != nil || before&eflagsIF == 0 || after&eflagsIF != 0 {
		return
	}
	m.suppress = &suppression{hit: h, until: time.Now().Add(m.opts.SuppressWindow)}
	m.log.Debug("step-over took an interrupt; the re-hit will be suppressed", "addr", hexAddr(h.Addr), "handler", hexAddr(rip))
}

// suppressed reports, once, a hit that repeats an interrupted step's hit:
// same address, stack pointer and thread, within the window.
func (m *Manager) suppressed(h *Hit) bool {
	s := m.suppress
	if s == nil {
		return false
	}
	if time.Now().After(s.until) {
		m.suppress = nil
		return false
	}
	if h.Addr != s.hit.Addr || h.RSP != s.hit.RSP || !h.sameThread(s.hit) {
		return false
	}
	m.suppress = nil
	return true
}
