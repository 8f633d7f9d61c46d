// Package session is the layer between Frost's API and its VMI packages:
// one Session per attached VM, the single owner of what Frost holds of it.
//
// A Session owns the guest's run state (its breakpoint manager, made at
// attach, pauses and resumes it; nothing else does), its Windows kernel
// model (found once, on first use, and found again after a reset; a
// search that found none is remembered a while), the one translator
// everything that reads the VM shares, what holds the guest still for a
// while (Hold), writes, and what clients armed and subscribed to (Arm,
// Subscription). The Registry holds the sessions by domain name and
// records them in a state file, so that the next frostd can let go of
// guests a crashed one held (Recover). A Booter boots a domain into the
// registry as a job that no client can cut short.
//
// Coherence is an event: the manager tells the session of every stop and
// every resume, whoever caused it (a breakpoint, an API pause, a step, an
// operator outside Frost), and the session tells the translator what it
// may no longer trust.
//
// The API adapter (package api) maps these to and from the wire; errors
// here are typed (NotAttachedError, AlreadyAttachedError, ErrNoSymbols,
// ...) and carry no gRPC codes.
package session
