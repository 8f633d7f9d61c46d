package gdbstub

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// ThreadID names a vCPU. QEMU numbers vCPUs as threads from 1, in process
// 1 when multiprocess ids are negotiated ("p1.2"). Pid 0 means the id came
// without a process part ("2"). The zero ThreadID means "no thread".
type ThreadID struct {
	Pid int64
	Tid int64
}

// IsZero reports the zero ThreadID.
func (t ThreadID) IsZero() bool { return t == ThreadID{} }

// String formats t as the stub expects it in Hg and vCont: "p1.2", or "2"
// without a process part; -1 (all) prints as "-1".
func (t ThreadID) String() string {
	tid := formatThreadPart(t.Tid)
	if t.Pid == 0 {
		return tid
	}
	return "p" + formatThreadPart(t.Pid) + "." + tid
}

func formatThreadPart(v int64) string {
	if v < 0 {
		return "-1"
	}
	return strconv.FormatInt(v, 16)
}

// ParseThreadID parses "p1.2", "p01.02", "2", "-1" or "p1.-1".
func ParseThreadID(s string) (ThreadID, error) {
	var t ThreadID
	rest := s
	if p, ok := strings.CutPrefix(s, "p"); ok {
		pid, tid, ok := strings.Cut(p, ".")
		if !ok {
			tid = "-1" // "p1" means every thread of process 1
		}
		v, err := parseThreadPart(pid)
		if err != nil {
			return ThreadID{}, fmt.Errorf("gdbstub: thread id %q: %w", s, err)
		}
		t.Pid, rest = v, tid
	}
	v, err := parseThreadPart(rest)
	if err != nil {
		return ThreadID{}, fmt.Errorf("gdbstub: thread id %q: %w", s, err)
	}
	t.Tid = v
	return t, nil
}

func parseThreadPart(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	v, ok := parseHexUint(s)
	if !ok || v > 1<<62 || strings.HasPrefix(s, "0x") {
		return 0, fmt.Errorf("not a hex number: %q", s)
	}
	return int64(v), nil
}

// maxThreads bounds a thread list: far more vCPUs than QEMU allows, so a
// stub that never says "l" cannot keep us asking forever.
const maxThreads = 4096

// parseThreadList parses one qfThreadInfo/qsThreadInfo reply: "m<id>,<id>"
// or "l" (end of list).
func parseThreadList(reply []byte) (ids []ThreadID, last bool, err error) {
	s := string(reply)
	if s == "l" {
		return nil, true, nil
	}
	body, ok := strings.CutPrefix(s, "m")
	if !ok || body == "" {
		return nil, false, protocolErr("thread list reply %q", s)
	}
	for _, part := range strings.Split(body, ",") {
		id, err := ParseThreadID(part)
		if err != nil {
			return nil, false, &ProtocolError{Msg: err.Error()}
		}
		ids = append(ids, id)
	}
	return ids, false, nil
}

// Threads lists the vCPUs (qfThreadInfo, then qsThreadInfo until "l").
func (c *Client) Threads(ctx context.Context) ([]ThreadID, error) {
	var all []ThreadID
	next := "qfThreadInfo"
	for {
		reply, err := c.query(ctx, "%s", next)
		if err != nil {
			return nil, err
		}
		ids, last, err := parseThreadList(reply)
		if err != nil {
			return nil, err
		}
		if last {
			return all, nil
		}
		if all = append(all, ids...); len(all) > maxThreads {
			return nil, protocolErr("more than %d threads", maxThreads)
		}
		next = "qsThreadInfo"
	}
}
