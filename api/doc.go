// Package api implements Frost's gRPC services (proto/frost/v1): thin
// handlers that validate a request, call the package that owns the answer
// (vmi, symbols, translate, and nt, breakpoints, winboot and monitor as
// they land) and map the result and its errors onto the wire.
//
// A handler holds no VMI logic. Errors follow one model: every failure is a
// gRPC status with an ErrorDetail whose reason a program can switch on;
// expected conditions are never codes.Unknown. Calls whose backend has not
// landed in this build fail with codes.Unimplemented and
// ERROR_REASON_NOT_AVAILABLE_YET naming what they wait on, never with a
// made-up answer.
//
// Attached VMs live in a Registry: one vmi.Target per domain name, which
// every VM-scoped handler looks up.
package api
