// Package audit writes Frost's audit log: one JSON object per line for
// every action that changes a guest or stops it (writes to memory or
// registers, holds and how long they lasted, pause and resume, attach and
// detach, boot), with who asked for it.
//
// It imports nothing of the project: the API layer decides what to record
// and fills in Event; this package only serializes events, one whole line
// per write, so concurrent writers never interleave and a reader (jq, a log
// shipper) can parse the file while frostd appends to it.
package audit
