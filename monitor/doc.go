// Package monitor holds Frost's breakpoint-driven monitors: what a user
// subscribes to when they want to know what the guest does, not where its
// breakpoints are. The first is NtWriteFile: which process wrote what, to
// which file.
//
// A monitor is an observer on a breakpoints.Manager. Its handler reads
// everything while the guest is stopped at the call (the buffer may change
// as soon as it runs), through the kernel model (nt) and the address
// translator, and hands the result to a bounded queue: a slow consumer
// loses events and is told how many, and never holds the guest.
package monitor
