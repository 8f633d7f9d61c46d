package gdbstub

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// Framing and connection edge cases, end to end against the fake stub.

func TestRetransmitOnNak(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	f.set(func(f *fakeStub) { f.nak["qqemu.PhyMemMode"] = 2 })
	if _, err := c.PhysicalMode(cx); err != nil {
		t.Fatalf("after two NAKs: %v", err)
	}
	n := 0
	for _, p := range f.packets() {
		if p == "qqemu.PhyMemMode" {
			n++
		}
	}
	if n != 4 { // once at the handshake, then 1 + 2 retransmissions
		t.Errorf("the stub saw qqemu.PhyMemMode %d times, want 4", n)
	}
}

// TestRetransmitOnNakPipelined: the stub NAKs the second of three
// pipelined reads, so it answers the third first. Replies are matched in
// the order the stub acked the packets, so each chunk gets its own data.
func TestRetransmitOnNakPipelined(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	f.set(func(f *fakeStub) { f.nak["m10800,800"] = 1 })
	buf := make([]byte, 3*2048)
	if _, err := c.ReadMemory(ctx(t), ThreadID{}, 0x10000, buf); err != nil {
		t.Fatal(err)
	}
	for i, b := range buf {
		if want := f.mem(0x10000 + uint64(i)); b != want {
			t.Fatalf("byte %#x = %#x, want %#x: replies matched to the wrong chunk", i, b, want)
		}
	}
	log := f.packets()
	last := -1
	for k, p := range log {
		if p == "m10800,800" {
			last = k
		}
	}
	if i := slices.Index(log, "m11000,800"); i < 0 || last < i {
		t.Errorf("the retransmission did not follow the third read: %q", log)
	}
}

func TestRetransmitGivesUp(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	f.set(func(f *fakeStub) { f.nak["qqemu.PhyMemMode"] = 100 })
	_, err := c.PhysicalMode(ctx(t))
	if !errors.Is(err, ErrProtocol) || !errors.Is(err, ErrClosed) {
		t.Fatalf("endless NAKs: %v, want a protocol error that closed the connection", err)
	}
}

func TestCorruptReplyNakedAndResent(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	f.set(func(f *fakeStub) { f.corrupt["qqemu.PhyMemMode"] = 1 })
	if _, err := c.PhysicalMode(ctx(t)); err != nil {
		t.Fatalf("after one corrupt reply: %v", err)
	}
	f.set(func(f *fakeStub) {
		if !slices.Contains(f.sentRaw, "$0#30") || strings.Count(strings.Join(f.sentRaw, ""), "$0#30") < 2 {
			t.Errorf("the stub did not resend its reply: %q", f.sentRaw)
		}
	})
}

// TestCorruptReplyWhilePipelined: QEMU forgets its last reply once the
// next packet starts, so with requests in flight a corrupt reply cannot be
// recovered; the connection fails instead of mismatching replies.
func TestCorruptReplyWhilePipelined(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	f.set(func(f *fakeStub) { f.corrupt["m10000,800"] = 1 })
	_, err := c.ReadMemory(ctx(t), ThreadID{}, 0x10000, make([]byte, 3*2048))
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("corrupt pipelined reply: %v, want ErrProtocol", err)
	}
}

func TestRunLengthEncodedReplies(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{rle: true}, AccelTCG, Config{})
	stop, err := c.Attach(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if rip, _ := stop.Registers.Uint("rip"); rip != 0xfffff80000001000 {
		t.Errorf("rip %#x from an RLE-encoded g", rip)
	}
	f.set(func(f *fakeStub) {
		if !strings.Contains(strings.Join(f.sentRaw, ""), "*") {
			t.Error("the fake sent no run-length encoding")
		}
	})
}

// TestOversizedMNeverSent: with a small PacketSize every "M" is cut to
// fit, wherever the address makes the header longer; the fake, like QEMU,
// would drop an oversized packet without a reply.
func TestOversizedMNeverSent(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{packetSize: 0x100}, AccelTCG, Config{ReplyTimeout: 2 * time.Second})
	cx := ctx(t)
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i)
	}
	for _, addr := range []uint64{0, 0x7f, 0x200000, 0xfffff8017c201000} {
		if n, err := c.WriteMemory(cx, ThreadID{}, addr, data); err != nil || n != len(data) {
			t.Fatalf("WriteMemory at %#x: %d, %v", addr, n, err)
		}
	}
	longest := 0
	for _, p := range f.packets() {
		if p == "<overflow>" {
			t.Fatal("an oversized packet reached the stub")
		}
		if strings.HasPrefix(p, "M") {
			longest = max(longest, len(p))
		}
	}
	if longest != 0xff {
		t.Errorf("longest M payload %d bytes, want %d (PacketSize-1: as full as the stub allows)", longest, 0xff)
	}
	// A request that cannot fit is refused, not sent.
	r := req("M0,80:%s", strings.Repeat("00", 0x80))
	if err := c.exchange(cx, r); err != nil || !errors.Is(r.err, ErrPacketTooLarge) {
		t.Fatalf("oversized request: %v / %v", err, r.err)
	}
	if slices.Contains(f.packets(), string(r.payload)) {
		t.Error("the oversized request was sent")
	}
}

func TestDeadConnectionMidRequest(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	f.set(func(f *fakeStub) { f.closeOn = "m" })
	start := time.Now()
	_, err := c.ReadMemory(ctx(t), ThreadID{}, 0x1000, make([]byte, 8192))
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("read on a dying connection: %v, want ErrClosed", err)
	}
	t.Logf("failed after %v: %v", time.Since(start), err)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
	if _, err := c.Registers(ctx(t), ThreadID{1, 1}); !errors.Is(err, ErrClosed) {
		t.Errorf("later call: %v, want ErrClosed", err)
	}
	if _, err := c.Interrupt(ctx(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Interrupt: %v, want ErrClosed", err)
	}
	if _, err := c.Wait(ctx(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait: %v, want ErrClosed", err)
	}
}

// TestDeadConnectionWhileRunning: a Wait on a running guest ends when the
// connection does.
func TestDeadConnectionWhileRunning(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	if err := c.Continue(ctx(t)); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		f.conn.Close()
	}()
	if _, err := c.Wait(ctx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait: %v, want ErrClosed", err)
	}
}

// TestNoReplyPoisons: a stub that takes a packet and never answers (as
// QEMU does with an oversized one) fails the call after ReplyTimeout; the
// connection is closed, since every later reply would be mismatched.
func TestNoReplyPoisons(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{ReplyTimeout: 100 * time.Millisecond})
	f.set(func(f *fakeStub) { f.swallow = "m" })
	_, err := c.ReadMemory(ctx(t), ThreadID{}, 0x1000, make([]byte, 8))
	if !errors.Is(err, ErrProtocol) || !errors.Is(err, ErrClosed) {
		t.Fatalf("unanswered request: %v", err)
	}
}

func TestContextEndsCall(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	mark := len(f.packets())
	if _, err := c.ReadMemory(cancelled, ThreadID{}, 0x1000, make([]byte, 8)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if got := f.packets()[mark:]; len(got) != 0 {
		t.Errorf("sent %q with a cancelled context", got)
	}
	// A caller that gives up mid-request leaves the connection usable:
	// the late reply is matched to its request and dropped.
	f.set(func(f *fakeStub) { f.holdM = 2 })
	short, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	if _, err := c.ReadMemory(short, ThreadID{}, 0x1000, make([]byte, 8)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("held reply: %v", err)
	}
	buf := make([]byte, 8)
	if _, err := c.ReadMemory(ctx(t), ThreadID{}, 0x2000, buf); err != nil {
		t.Fatal(err)
	}
	if want := []byte{f.mem(0x2000), f.mem(0x2001)}; !bytes.Equal(buf[:2], want) {
		t.Errorf("the next read got %x, want %x...: a late reply was mismatched", buf[:2], want)
	}
}

// TestPipelined: the fake holds every "m" reply until 32 requests are in,
// so a client that waited for each reply before sending the next would
// stall.
func TestPipelined(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{ReplyTimeout: 5 * time.Second})
	f.set(func(f *fakeStub) { f.holdM = 32 })
	buf := make([]byte, 32*2048)
	if _, err := c.ReadMemory(ctx(t), ThreadID{}, 0x100000, buf); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(buf); i += 997 {
		if want := f.mem(0x100000 + uint64(i)); buf[i] != want {
			t.Fatalf("byte %#x = %#x, want %#x", i, buf[i], want)
		}
	}
}

// TestIgnoredFrames: notifications, console output and stray bytes between
// frames change nothing.
func TestIgnoredFrames(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	f.set(func(f *fakeStub) {
		f.write([]byte("xyz%Stop:T05thread:p01.01;#00"))
		f.write(appendPacket([]byte("\r\n"), []byte("O48656c6c6f0a")))
	})
	on, err := c.PhysicalMode(ctx(t))
	if err != nil || on {
		t.Fatalf("PhysicalMode after noise: %v, %v", on, err)
	}
	if st, stop := c.State(); st != StateStopped || stop != nil {
		t.Errorf("state %v %v: the notification was taken for a stop", st, stop)
	}
}

// TestNoAckMode: a stub that offers QStartNoAckMode gets it; from then on
// neither side acks, and replies still match their requests.
func TestNoAckMode(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{offerNoAck: true}, AccelTCG, Config{})
	if !c.e.noAck {
		t.Fatal("no-ack mode not entered")
	}
	cx := ctx(t)
	stop, err := c.Attach(cx)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5000)
	if _, err := c.ReadMemory(cx, stop.Thread, 0x4000, buf); err != nil {
		t.Fatal(err)
	}
	for i, b := range buf {
		if b != f.mem(0x4000+uint64(i)) {
			t.Fatalf("byte %#x mismatched in no-ack mode", i)
		}
	}
	f.set(func(f *fakeStub) {
		after := f.received.String()
		after = after[strings.Index(after, "QStartNoAckMode"):]
		// Past the ack of the OK that switched modes, '+' is only the
		// guard byte ahead of each run of requests, never an ack.
		if n := strings.Count(after, "+"); n > strings.Count(after, "$")+1 {
			t.Errorf("%d '+' for %d packets after the switch: acks still sent", n, strings.Count(after, "$"))
		}
	})
}
