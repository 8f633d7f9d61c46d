package qmp

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func dialFake(t *testing.T, f *fakeQEMU) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, f.path)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientGreetingAndStatus(t *testing.T) {
	f := startFake(t, func(c *fakeConn) {
		req, _ := c.next()
		if req.Execute != "query-status" {
			t.Errorf("got %q", req.Execute)
		}
		c.reply(req, `{"status": "running", "singlestep": false, "running": true}`)
		c.next() // wait for the client to hang up
	})
	c := dialFake(t, f)
	if g := c.Greeting(); g.Version.QEMU.Major != 7 || g.Version.QEMU.Minor != 2 {
		t.Errorf("greeting version %+v", g.Version.QEMU)
	}
	s, err := c.QueryStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != StatusRunning || !s.Running {
		t.Errorf("status %+v", s)
	}
}

// Replies are matched by id, not by order: QEMU answers in order, but a
// caller that gave up must not shift everyone else's replies.
func TestClientRoutesRepliesByID(t *testing.T) {
	const n = 8
	f := startFake(t, func(c *fakeConn) {
		var reqs []fakeRequest
		for len(reqs) < n {
			req, ok := c.next()
			if !ok {
				return
			}
			reqs = append(reqs, req)
		}
		for i := len(reqs) - 1; i >= 0; i-- { // answer backwards
			var arg struct{ Path string }
			_ = jsonUnmarshal(reqs[i].Arguments, &arg)
			c.reply(reqs[i], `"`+arg.Path+`"`)
		}
		c.next()
	})
	c := dialFake(t, f)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "/p" + string(rune('a'+i))
			var got string
			if err := c.Execute(testCtx(t), "echo", map[string]string{"path": path}, &got); err != nil {
				t.Error(err)
				return
			}
			if got != path {
				t.Errorf("call %s got reply %q", path, got)
			}
		}()
	}
	wg.Wait()
}

func TestClientTypedError(t *testing.T) {
	f := startFake(t, func(c *fakeConn) {
		req, _ := c.next()
		c.replyError(req, "DeviceNotFound", "Device '/objects/nope' not found")
		c.next()
	})
	c := dialFake(t, f)
	var v any
	err := c.QOMGet(testCtx(t), "/objects/nope", "x", &v)
	var qe *Error
	if !errors.As(err, &qe) {
		t.Fatalf("got %v (%T), want *Error", err, err)
	}
	if qe.Class != ClassDeviceNotFound || qe.Command != "qom-get" || !strings.Contains(qe.Desc, "not found") {
		t.Errorf("error %+v", qe)
	}
}

// Events come between replies (QEMU sends STOP before stop's return) and
// must reach Events without disturbing the reply.
func TestClientEventsInterleaved(t *testing.T) {
	f := startFake(t, func(c *fakeConn) {
		req, _ := c.next()
		c.send(`{"timestamp": {"seconds": 1795337885, "microseconds": 70886}, "event": "STOP"}`)
		c.reply(req, "{}")
		req, _ = c.next()
		c.send(`{"timestamp": {"seconds": 1795337885, "microseconds": 78854}, "event": "RESUME"}`)
		c.reply(req, "{}")
		c.send(`{"timestamp": {"seconds": 1795337886, "microseconds": 1}, "event": "RESET", "data": {"guest": false, "reason": "host-qmp-system-reset"}}`)
		c.next()
	})
	c := dialFake(t, f)
	ctx := testCtx(t)
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Cont(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{EventStop, EventResume, EventReset}
	for _, w := range want {
		select {
		case e := <-c.Events():
			if e.Name != w {
				t.Errorf("event %q, want %q", e.Name, w)
			}
			if e.Time.Unix() < 1795337885 {
				t.Errorf("event time %v", e.Time)
			}
			if w == EventReset && (e.Reason() != "host-qmp-system-reset" || e.Guest()) {
				t.Errorf("RESET reason %q guest %v", e.Reason(), e.Guest())
			}
		case <-ctx.Done():
			t.Fatalf("no %s event", w)
		}
	}
}

func TestClientDeadline(t *testing.T) {
	release := make(chan struct{})
	f := startFake(t, func(c *fakeConn) {
		first, _ := c.next() // never answered in time
		second, _ := c.next()
		<-release
		c.reply(first, `"late"`)
		c.reply(second, `"second"`)
		c.next()
	})
	c := dialFake(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Execute(ctx, "slow", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	// The late reply must not be taken for the next call's.
	var got string
	errc := make(chan error, 1)
	go func() { errc <- c.Execute(testCtx(t), "next", nil, &got) }()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got != "second" {
		t.Errorf("got %q, want the second call's reply", got)
	}
}

// A QEMU that exits (here: quits after SHUTDOWN) fails the pending call
// with a ConnError, delivers the SHUTDOWN first, then closes Events.
func TestClientDeadSocket(t *testing.T) {
	f := startFake(t, func(c *fakeConn) {
		c.next()
		c.send(`{"timestamp": {"seconds": 1, "microseconds": 0}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}`)
		c.conn.Close()
	})
	c := dialFake(t, f)
	ctx := testCtx(t)
	err := c.Execute(ctx, "quit", nil, nil)
	var ce *ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v (%T), want *ConnError", err, err)
	}
	if !strings.Contains(err.Error(), f.path) || !strings.Contains(err.Error(), "lost") {
		t.Errorf("error %q does not say which connection died", err)
	}
	e, ok := <-c.Events()
	if !ok || e.Name != EventShutdown || e.Reason() != "host-qmp-quit" {
		t.Errorf("got event %+v (open %v), want the SHUTDOWN", e, ok)
	}
	if _, ok := <-c.Events(); ok {
		t.Error("Events not closed after the connection died")
	}
	<-c.Done()
	if !errors.As(c.Err(), &ce) {
		t.Errorf("Err() = %v", c.Err())
	}
	if err := c.Execute(ctx, "query-status", nil, nil); !errors.As(err, &ce) {
		t.Errorf("a call after death got %v, want the ConnError", err)
	}
}

func TestClientClose(t *testing.T) {
	f := startFake(t, func(c *fakeConn) { c.next() })
	c := dialFake(t, f)
	c.Close()
	err := c.Execute(testCtx(t), "query-status", nil, nil)
	if !errors.Is(err, ErrClosed) {
		t.Errorf("got %v, want ErrClosed", err)
	}
	if _, ok := <-c.Events(); ok {
		t.Error("Events open after Close")
	}
	c.Close() // twice is fine
}

func TestDialNoSocket(t *testing.T) {
	_, err := Dial(testCtx(t), "/nonexistent/qmp.sock")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/qmp.sock") {
		t.Errorf("got %v, want an error naming the socket", err)
	}
}

func TestDialNotQMP(t *testing.T) {
	f := startFakeRaw(t, func(c *fakeConn) {
		c.send(`{"hello": 1}`)
		c.next()
	})
	_, err := Dial(testCtx(t), f.path)
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Errorf("got %v, want *ProtocolError", err)
	}
}

// QEMU hands a previous client's undelivered events to the next connection
// ahead of the greeting: Dial skips them.
func TestDialSkipsLeftoverEvents(t *testing.T) {
	f := startFakeRaw(t, func(c *fakeConn) {
		c.send(`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}`)
		c.send(greeting72)
		if req, ok := c.next(); ok {
			c.reply(req, "{}")
		}
		c.next()
	})
	c, err := Dial(testCtx(t), f.path)
	if err != nil {
		t.Fatalf("Dial after a leftover event: %v", err)
	}
	defer c.Close()
	if g := c.Greeting(); g.Version.QEMU.Major != 7 {
		t.Errorf("greeting %+v", g)
	}
}

// A socket that never greets (not QEMU, or a QEMU serving another client)
// must not hang Dial past its deadline.
func TestDialGreetingDeadline(t *testing.T) {
	f := startFakeRaw(t, func(c *fakeConn) { c.next() })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, f.path)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a deadline error", err)
	}
}

func TestClientMalformedJSON(t *testing.T) {
	f := startFake(t, func(c *fakeConn) {
		c.next()
		c.send(`{"return": ]`)
		c.next()
	})
	c := dialFake(t, f)
	err := c.Execute(testCtx(t), "query-status", nil, nil)
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Errorf("got %v, want a ConnError caused by a ProtocolError", err)
	}
}

// An unread event stream costs bounded memory and never blocks replies.
func TestClientEventOverflow(t *testing.T) {
	const extra = 10
	f := startFake(t, func(c *fakeConn) {
		req, _ := c.next()
		for i := 0; i < maxQueuedEvents+extra; i++ {
			c.send(`{"timestamp": {"seconds": 1, "microseconds": 0}, "event": "STOP"}`)
		}
		c.reply(req, "{}")
		c.next()
	})
	c := dialFake(t, f)
	if err := c.Stop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// The pump holds one event in hand while the queue is full.
	if d := c.DroppedEvents(); d < extra-1 || d > extra {
		t.Errorf("dropped %d events, want about %d", d, extra)
	}
}

var _ net.Conn = (*net.UnixConn)(nil)
