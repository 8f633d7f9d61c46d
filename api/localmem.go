package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
)

// The local-memory side socket hands a local client a VM's RAM, so it can
// read guest memory through its own mapping instead of a gRPC call per
// read. Its protocol, version 1, is one exchange per connection:
//
//	client → {"version":1,"vm":"NAME"}\n            one line, at most 4 KiB
//	frostd → {"version":1,"vm":"NAME","kind":"memfd","size":N,
//	          "ranges":[{"gpa":G,"size":S,"offset":O,"read_only":false},...]}\n
//	         with the RAM file's read-only descriptor in SCM_RIGHTS
//	   or  → {"version":1,"code":"not_shareable","error":"..."}\n  with no descriptor
//
// then frostd closes the connection. size is the bytes of the file that may
// be mapped; each range is guest-physical [gpa, gpa+size) at file offset
// offset. The codes are LocalMemBadRequest, LocalMemBadVersion,
// LocalMemNotAttached, LocalMemNotShareable and LocalMemInternal. The reply
// line and its descriptor go in one sendmsg, so the descriptor arrives
// with the reply's first bytes.
//
// Who may connect is who may open the socket (its file mode, as for the
// gRPC socket, which already lets a caller read all of guest RAM);
// frostd logs each hand-out with the peer's kernel-given uid and pid, and
// refuses a peer whose credentials it cannot read.
const (
	LocalMemVersion = 1
	// localMemMaxRequest bounds the request line: a VM name is short, and
	// a client that sends more is not speaking the protocol.
	localMemMaxRequest = 4096
	// localMemTimeout bounds a whole exchange, so a client that connects
	// and says nothing holds no goroutine for long.
	localMemTimeout = 5 * time.Second
	// localMemMaxConns bounds the exchanges in flight.
	localMemMaxConns = 32
	// acceptBackoff paces retries after a failed accept.
	acceptBackoff = 100 * time.Millisecond
)

// Error codes of a refusal.
const (
	LocalMemBadRequest   = "bad_request"
	LocalMemBadVersion   = "unsupported_version"
	LocalMemNotAttached  = "not_attached"
	LocalMemNotShareable = "not_shareable"
	LocalMemInternal     = "internal"
)

// LocalMemorySocket is where the side socket lives for a gRPC socket at
// path: beside it, "frostd.sock" giving "frostd.mem.sock".
func LocalMemorySocket(path string) string {
	dir, base := filepath.Split(path)
	return filepath.Join(dir, strings.TrimSuffix(base, ".sock")+".mem.sock")
}

// LocalMemRequest is the client's request line.
type LocalMemRequest struct {
	Version int    `json:"version"`
	VM      string `json:"vm"`
}

// LocalMemRange is one piece of guest RAM in the handed-out file.
type LocalMemRange struct {
	GPA      uint64 `json:"gpa"`
	Size     uint64 `json:"size"`
	Offset   uint64 `json:"offset"`
	ReadOnly bool   `json:"read_only"`
}

// LocalMemReply is frostd's reply line: the map on success, Code and
// Error on a refusal.
type LocalMemReply struct {
	Version int             `json:"version"`
	VM      string          `json:"vm,omitempty"`
	Kind    string          `json:"kind,omitempty"`
	Size    uint64          `json:"size,omitempty"`
	Ranges  []LocalMemRange `json:"ranges,omitempty"`
	Code    string          `json:"code,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// LocalMemory serves the side socket.
type LocalMemory struct {
	Registry *session.Registry
	Log      *slog.Logger
}

// Serve accepts on l (a unix listener) until it is closed, and answers
// each connection on its own goroutine, at most localMemMaxConns at once.
func (lm *LocalMemory) Serve(l net.Listener) error {
	sem := make(chan struct{}, localMemMaxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			// Out of descriptors, say: the listener is still good, and
			// local clients read over gRPC meanwhile.
			lm.log().Warn("local memory: accept", "error", err)
			time.Sleep(acceptBackoff)
			continue
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer uc.Close()
			lm.serveConn(uc)
		}()
	}
}

func (lm *LocalMemory) log() *slog.Logger {
	if lm.Log != nil {
		return lm.Log
	}
	return slog.Default()
}

func (lm *LocalMemory) serveConn(c *net.UnixConn) {
	deadline := time.Now().Add(localMemTimeout)
	c.SetDeadline(deadline)
	cred, err := unixPeer(c)
	if err != nil {
		lm.log().Warn("local memory: refused a peer whose credentials cannot be read", "error", err)
		lm.refuse(c, LocalMemInternal, "frostd cannot read your credentials")
		return
	}
	req, code, msg := readLocalMemRequest(c)
	if code != "" {
		lm.log().Warn("local memory: bad request", "peer", cred.String(), "code", code, "error", msg)
		lm.refuse(c, code, msg)
		return
	}
	vm, err := lm.Registry.Get(req.VM)
	if err != nil {
		lm.refuse(c, LocalMemNotAttached, err.Error())
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	ram, err := vm.ShareRAM(ctx)
	if err != nil {
		code := LocalMemInternal
		if errors.Is(err, vmi.ErrRAMNotShareable) {
			code = LocalMemNotShareable
		}
		lm.log().Info("local memory: not handed out", "vm", vm.Name, "peer", cred.String(), "error", err)
		lm.refuse(c, code, err.Error())
		return
	}
	defer ram.File.Close()
	reply := LocalMemReply{Version: LocalMemVersion, VM: vm.Name, Kind: ram.Kind.String(), Size: ram.Size}
	for _, r := range ram.Ranges {
		reply.Ranges = append(reply.Ranges, LocalMemRange{GPA: r.GPA, Size: r.Size, Offset: r.Offset, ReadOnly: r.ReadOnly})
	}
	line, err := json.Marshal(reply)
	if err != nil {
		lm.refuse(c, LocalMemInternal, err.Error())
		return
	}
	if _, _, err := c.WriteMsgUnix(append(line, '\n'), syscall.UnixRights(int(ram.File.Fd())), nil); err != nil {
		lm.log().Warn("local memory: sending the RAM descriptor", "vm", vm.Name, "peer", cred.String(), "error", err)
		return
	}
	lm.log().Info("local memory: handed out guest RAM read-only", "vm", vm.Name, "uid", cred.UID, "gid", cred.GID, "pid", cred.PID,
		"kind", reply.Kind, "bytes", ram.Size)
}

// readLocalMemRequest reads and checks the one request line; a non-empty
// code is the refusal to send.
func readLocalMemRequest(c net.Conn) (req LocalMemRequest, code, msg string) {
	// One byte more than the limit tells a long line from one at the limit.
	r := bufio.NewReaderSize(c, localMemMaxRequest+1)
	line, err := r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return req, LocalMemBadRequest, fmt.Sprintf("request line longer than %d bytes", localMemMaxRequest)
	case err != nil:
		return req, LocalMemBadRequest, "no request line: " + err.Error()
	}
	dec := json.NewDecoder(strings.NewReader(string(line)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, LocalMemBadRequest, "request is not the JSON object {\"version\":1,\"vm\":NAME}: " + err.Error()
	}
	switch {
	case req.Version != LocalMemVersion:
		return req, LocalMemBadVersion, fmt.Sprintf("protocol version %d; frostd speaks %d", req.Version, LocalMemVersion)
	case req.VM == "":
		return req, LocalMemBadRequest, "vm is empty"
	case len(req.VM) > localMemMaxName:
		return req, LocalMemBadRequest, fmt.Sprintf("vm name longer than %d bytes", localMemMaxName)
	}
	return req, "", ""
}

// localMemMaxName bounds a VM name in a request (libvirt's names are far
// shorter); a longer one is refused without being echoed.
const localMemMaxName = 256

func (lm *LocalMemory) refuse(c *net.UnixConn, code, msg string) {
	line, _ := json.Marshal(LocalMemReply{Version: LocalMemVersion, Code: code, Error: msg})
	c.Write(append(line, '\n'))
}

// unixPeer reads the connection's SO_PEERCRED.
func unixPeer(c *net.UnixConn) (*PeerAddr, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, cerr
	}
	return &PeerAddr{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}, nil
}
