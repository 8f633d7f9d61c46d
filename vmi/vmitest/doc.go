// Package vmitest is a scriptable vmi.Target for unit tests, in the spirit
// of net/http/httptest: a test makes a Target, lays out the guest's
// physical memory and registers, drives the guest from outside (a
// breakpoint hit, an operator's pause or resume, a reset, a shutdown, the
// connection's end) and looks at what the code under test did to it
// (breakpoints inserted and removed, pauses, resumes, steps, register and
// memory writes). Any call can be made to fail.
//
// The fake keeps the real Target's rules: the guest is all-stop; calls that
// need it stopped fail with an error wrapping vmi.ErrRunning while it runs;
// breakpoints are checked against the Capabilities (vmi.ErrRefused,
// vmi.ErrSlotsExhausted); a physical read outside RAM is a
// *vmi.NotRAMError; the stops nobody asked for by a call arrive on Events,
// with a snapshot of the stopped vCPU's registers.
//
// It is test support: only _test files import it.
package vmitest
