// Package guard is the small process that outlives frostd so that a
// guest is never left frozen by frostd's death.
//
// frostd connects to the guard over a unix socket (0600, in frostd's own
// directory, both ends checking the other's uid) and, before each hold
// begins, tells it everything it holds: the VMs attached (whose gdbstub
// may carry breakpoints and stop the guest) and the domains it started or
// left paused through libvirt. A frostd that stops cleanly says "bye".
// When a connection drops without it (SIGKILL, the OOM killer, a crash:
// the kernel closes the socket at once), the guard lets go of every VM
// that frostd held, all at once and each with its own deadline: it
// re-attaches (which removes the stale breakpoints), detaches with D;1
// (the guest runs), and resumes a domain left paused. It writes what it
// did into the state file, so a successor frostd does not redo it, and
// waits for the next frostd; one that connects meanwhile is answered once
// the recovery is over.
//
// The guard attaches through the session.Releaser the wiring gives it
// (its own libvirt connection), never a vmi backend of its own, and holds
// a guest no longer than its release.
package guard
