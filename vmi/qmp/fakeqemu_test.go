package qmp

import (
	"bufio"
	"encoding/json"
	"net"
	"path/filepath"
	"testing"
)

// fakeQEMU is a scripted QMP server on a unix socket: it sends the real
// QEMU 7.2 greeting, and hands each request to the test's handler, which
// writes whatever replies and events it wants.
type fakeQEMU struct {
	path string
	ln   net.Listener
}

const greeting72 = `{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}`

type fakeRequest struct {
	Execute   string          `json:"execute"`
	Arguments json.RawMessage `json:"arguments"`
	ID        json.RawMessage `json:"id"`
}

// fakeConn is the server side of one connection.
type fakeConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func (c *fakeConn) send(s string) {
	if _, err := c.conn.Write([]byte(s + "\r\n")); err != nil {
		c.t.Logf("fake QEMU: write: %v", err)
	}
}

// next reads one request; ok is false once the client hung up.
func (c *fakeConn) next() (fakeRequest, bool) {
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return fakeRequest{}, false
	}
	var req fakeRequest
	if err := json.Unmarshal(line, &req); err != nil {
		c.t.Errorf("fake QEMU: bad request %q: %v", line, err)
		return fakeRequest{}, false
	}
	return req, true
}

func (c *fakeConn) reply(req fakeRequest, ret string) {
	c.send(`{"return": ` + ret + `, "id": ` + string(req.ID) + `}`)
}

func (c *fakeConn) replyError(req fakeRequest, class, desc string) {
	c.send(`{"error": {"class": "` + class + `", "desc": "` + desc + `"}, "id": ` + string(req.ID) + `}`)
}

// startFake serves one connection with serve, after the greeting and the
// qmp_capabilities exchange.
func startFake(t *testing.T, serve func(c *fakeConn)) *fakeQEMU {
	t.Helper()
	return startFakeRaw(t, func(c *fakeConn) {
		c.send(greeting72)
		req, ok := c.next()
		if !ok {
			return
		}
		if req.Execute != "qmp_capabilities" {
			t.Errorf("first command %q, want qmp_capabilities", req.Execute)
		}
		c.reply(req, "{}")
		serve(c)
	})
}

// startFakeRaw serves one connection with serve from the first byte.
func startFakeRaw(t *testing.T, serve func(c *fakeConn)) *fakeQEMU {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeQEMU{path: path, ln: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		serve(&fakeConn{t: t, conn: conn, r: bufio.NewReader(conn)})
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return f
}
