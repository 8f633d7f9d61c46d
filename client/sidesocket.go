package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// The side socket's protocol, version 1 (frostd's api/localmem.go is the
// other end): one request line {"version":1,"vm":NAME}, one reply line
// carrying the map, with the RAM file's read-only descriptor in
// SCM_RIGHTS, or a code and an error.
const sideVersion = 1

type sideRequest struct {
	Version int    `json:"version"`
	VM      string `json:"vm"`
}

type sideRange struct {
	GPA      uint64 `json:"gpa"`
	Size     uint64 `json:"size"`
	Offset   uint64 `json:"offset"`
	ReadOnly bool   `json:"read_only"`
}

type sideReply struct {
	Version int         `json:"version"`
	VM      string      `json:"vm"`
	Kind    string      `json:"kind"`
	Size    uint64      `json:"size"`
	Ranges  []sideRange `json:"ranges"`
	Code    string      `json:"code"`
	Error   string      `json:"error"`
}

// RefusedError is frostd declining to hand out a VM's RAM: Code is the
// protocol's ("not_attached", "not_shareable", ...). Reads then go over
// gRPC.
type RefusedError struct {
	VM, Code, Msg string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("client: frostd does not hand out the RAM of %s (%s): %s", e.VM, e.Code, e.Msg)
}

// sideTimeout bounds one exchange: frostd answers in milliseconds.
const sideTimeout = 10 * time.Second

// maxSideReply bounds the reply line: a map of a few dozen ranges.
const maxSideReply = 1 << 20

// askRAM asks the side socket for vm's RAM. On success the caller owns f.
func askRAM(ctx context.Context, path, vm string) (f *os.File, rep *sideReply, err error) {
	d := net.Dialer{Timeout: sideTimeout}
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	uc := conn.(*net.UnixConn)
	deadline := time.Now().Add(sideTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	uc.SetDeadline(deadline)
	line, err := json.Marshal(sideRequest{Version: sideVersion, VM: vm})
	if err != nil {
		return nil, nil, err
	}
	if _, err := uc.Write(append(line, '\n')); err != nil {
		return nil, nil, err
	}
	var fds []int
	// Any descriptor received is closed unless it is the one returned.
	defer func() {
		for _, fd := range fds {
			if f == nil || fd != int(f.Fd()) {
				syscall.Close(fd)
			}
		}
	}()
	var buf []byte
	chunk := make([]byte, 64<<10)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	for !bytes.Contains(buf, []byte{'\n'}) {
		n, oobn, _, _, err := uc.ReadMsgUnix(chunk, oob)
		if oobn > 0 {
			got, perr := parseRights(oob[:oobn])
			fds = append(fds, got...)
			if perr != nil {
				return nil, nil, perr
			}
		}
		buf = append(buf, chunk[:n]...)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the reply: %w", err)
		}
		if n == 0 {
			return nil, nil, errors.New("frostd closed the side socket without a reply")
		}
		if len(buf) > maxSideReply {
			return nil, nil, fmt.Errorf("reply longer than %d bytes", maxSideReply)
		}
	}
	rep = new(sideReply)
	if err := json.Unmarshal(buf[:bytes.IndexByte(buf, '\n')], rep); err != nil {
		return nil, nil, fmt.Errorf("bad reply: %w", err)
	}
	if rep.Version != sideVersion {
		return nil, nil, fmt.Errorf("frostd speaks side-socket version %d, this client %d", rep.Version, sideVersion)
	}
	if rep.Code != "" || rep.Error != "" {
		return nil, nil, &RefusedError{VM: vm, Code: rep.Code, Msg: rep.Error}
	}
	if len(fds) != 1 {
		return nil, nil, fmt.Errorf("frostd sent %d descriptors with the map, want 1", len(fds))
	}
	return os.NewFile(uintptr(fds[0]), "guest RAM of "+vm), rep, nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		got, err := syscall.ParseUnixRights(&msgs[i])
		if err != nil {
			return fds, err
		}
		fds = append(fds, got...)
	}
	return fds, nil
}
