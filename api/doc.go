// Package api implements Frost's gRPC services (proto/frost/v1): thin
// handlers that validate a request, call the package that owns the answer
// (session for everything about an attached VM; symbols, translate, nt
// and monitor for what they compute) and map the result and its errors
// onto the wire.
//
// A handler holds no VMI logic. Errors follow one model: every failure is a
// gRPC status with an ErrorDetail whose reason a program can switch on;
// expected conditions are never codes.Unknown. Calls whose backend has not
// landed in this build fail with codes.Unimplemented and
// ERROR_REASON_NOT_AVAILABLE_YET naming what they wait on, never with a
// made-up answer.
//
// Attached VMs live in the session layer's Registry: one session.Session
// per domain name, which every VM-scoped handler looks up (Config.get maps
// its errors).
package api
