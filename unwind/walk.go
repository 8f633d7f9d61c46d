package unwind

import "fmt"

// Walk unwinds a stack from regs, the context of a stopped vCPU (its RIP
// is where execution is, not a return address), taking at most limit
// steps. Step i unwinds frame i (frame 0 is regs) into frame i+1, its
// Caller; Step i's Function is frame i's function.
//
// The stack ends after a step whose Caller.RIP is 0 (a thread's first
// frame returns nowhere); that step is included. A failed step ends the
// walk with the steps so far and the error. So does a caller whose RSP is
// not above its callee's: the stack grows down, so on one stack every
// caller's frame lies above its callee's, and anything else is a loop in
// corrupt data. A machine frame may switch stacks (an interrupt from user
// mode lands on the kernel stack), so it is exempt.
func Walk(regs Registers, mem Memory, fns Functions, limit int) ([]Step, error) {
	var u Unwinder
	steps := make([]Step, 0, min(max(limit, 0), 16)) // most stacks fit: one allocation
	callSite := false
	for len(steps) < limit {
		st, err := u.Unwind(regs, callSite, mem, fns)
		if err != nil {
			return steps, err
		}
		steps = append(steps, st)
		if st.Caller.RIP == 0 {
			return steps, nil
		}
		if !st.Interrupted && st.Caller.GPR[RSP] <= regs.GPR[RSP] {
			return steps, &StackError{RIP: regs.RIP, Reason: fmt.Sprintf(
				"the caller's rsp %#x is not above the frame's %#x", st.Caller.GPR[RSP], regs.GPR[RSP])}
		}
		regs, callSite = st.Caller, !st.Interrupted
	}
	return steps, nil
}
