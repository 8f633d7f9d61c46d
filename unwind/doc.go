// Package unwind computes x64 Windows call stacks the way the system's own
// unwinder (RtlVirtualUnwind) does: from a function's RUNTIME_FUNCTION
// (.pdata) and UNWIND_INFO (.xdata), never from frame pointers. It follows
// Microsoft's public description of x64 exception handling: the unwind
// codes undo the prologue in reverse, chained unwind info continues into
// the primary function's codes, a frame register recovers RSP once the
// prologue has set it, an epilogue that has begun is emulated forward
// (the codes describe the prologue only), a function without a
// RUNTIME_FUNCTION is a leaf whose return address is at [RSP], and a
// machine frame (interrupt, exception, system call) yields an interrupted
// context rather than a call site.
//
// The package is pure: it reads guest memory through the Memory it is
// given and finds functions through the Functions it is given. Guest
// memory is untrusted input: every read is checked (an unreadable page is
// an error naming its address, never zeros), every count is bounded, a
// malformed UNWIND_INFO is a *FormatError, and no register is invented: a
// caller's register is Known only if the unwind recovered it or the ABI
// says the callee preserved it.
//
// One step is Unwind (or Unwinder.Unwind, which reuses its buffers); Walk
// chains steps into a stack.
package unwind
