package qmp

import (
	"errors"
	"fmt"
)

// Error classes QEMU reports (qapi/error.json). QEMU sends most failures
// as GenericError; the others are kept for callers that must tell them
// apart, e.g. a QOM path that does not exist.
const (
	ClassGeneric         = "GenericError"
	ClassCommandNotFound = "CommandNotFound"
	ClassDeviceNotActive = "DeviceNotActive"
	ClassDeviceNotFound  = "DeviceNotFound"
	ClassKVMMissingCap   = "KVMMissingCap"
)

// Error is a command that QEMU answered with an error.
type Error struct {
	Command string // the QMP command, e.g. "qom-get"
	Class   string // e.g. ClassDeviceNotFound
	Desc    string // QEMU's human-readable description
}

func (e *Error) Error() string {
	return fmt.Sprintf("qmp: %s: %s: %s", e.Command, e.Class, e.Desc)
}

// HMPError is an HMP command that QEMU ran but that failed. HMP has no
// error channel of its own: human-monitor-command succeeds and the failure
// is only in the text, so the callers that know a command's success text
// report the rest as this.
type HMPError struct {
	Command string // the HMP command line
	Output  string // what HMP printed
}

func (e *HMPError) Error() string {
	return fmt.Sprintf("qmp: HMP %q failed: %s", e.Command, trimOutput(e.Output))
}

// ConnError means the connection to QEMU is gone: QEMU exited, the socket
// was closed, or a read or write on it failed. Every call after that
// fails with the same error.
type ConnError struct {
	Addr string // the socket path, or the libvirt domain
	Err  error
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("qmp: connection to QEMU at %s lost: %v", e.Addr, e.Err)
}

func (e *ConnError) Unwrap() error { return e.Err }

// ErrClosed is the cause inside a ConnError after Close.
var ErrClosed = errors.New("client closed")

// ProtocolError is a message that is not QMP: bad JSON, a greeting
// without "QMP", a reply that carries neither "return" nor "error".
type ProtocolError struct {
	Msg string
}

func (e *ProtocolError) Error() string { return "qmp: protocol: " + e.Msg }
