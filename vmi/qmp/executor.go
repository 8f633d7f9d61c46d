package qmp

import "context"

// Executor runs one QMP command: args (nil for none) is marshalled as its
// "arguments", and the reply's "return" is unmarshalled into result
// (nil to drop it). A QEMU-side failure is an *Error; ctx bounds the wait.
// *Client and *Passthrough are Executors, and Monitor builds every typed
// command on this one method.
type Executor interface {
	Execute(ctx context.Context, command string, args, result any) error
}
