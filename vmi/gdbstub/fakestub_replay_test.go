package gdbstub

import (
	"bytes"
	"net"
	"testing"
)

// rawPeer speaks the protocol by hand, without the client, to check the
// fake stub against recordings.
type rawPeer struct {
	tb   testing.TB
	conn net.Conn
	dec  *frameReader
}

func newRawPeer(tb testing.TB, conn net.Conn) *rawPeer {
	return &rawPeer{tb: tb, conn: conn, dec: newFrameReader(conn)}
}

// packet reads up to the next packet and acks it.
func (p *rawPeer) packet() string {
	p.tb.Helper()
	for {
		f, err := p.dec.next()
		if err != nil {
			p.tb.Fatalf("raw peer: %v", err)
		}
		if f.kind == framePacket {
			if f.err != nil {
				p.tb.Fatalf("raw peer: %v", f.err)
			}
			p.conn.Write([]byte("+"))
			return string(f.data)
		}
	}
}

// ack reads up to the next '+'.
func (p *rawPeer) ack() {
	p.tb.Helper()
	for {
		f, err := p.dec.next()
		if err != nil {
			p.tb.Fatalf("raw peer: %v", err)
		}
		if f.kind == frameAck {
			return
		}
	}
}

func (p *rawPeer) send(payload string) {
	p.conn.Write(appendPacket(nil, []byte(payload)))
}

func (p *rawPeer) exchange(payload string) string {
	p.send(payload)
	return p.packet()
}

// TestFakeReplaysKVMSession replays a session recorded against QEMU 7.2
// under KVM and checks that the fake stub answers every request as QEMU
// did: stale "p" after a stop until "g", E22 for the fifth debug
// register, and watchpoints competing for the same four.
func TestFakeReplaysKVMSession(t *testing.T) {
	session := loadSession(t, "kvm-session.json")
	var gs [][]byte
	for _, r := range session {
		if r.Request == "g" {
			gs = append(gs, []byte(*r.Reply))
		}
	}
	if len(gs) != 2 {
		t.Fatalf("the recording has %d g replies, want 2", len(gs))
	}
	f, conn := newFake(t, fakeOpts{kvm: true, running: true})
	f.set(func(f *fakeStub) {
		// Before the first stop QEMU's copy held an older rip (the
		// recording's first "p10"); the vCPU was really at the first g's.
		cpu := f.threads[0]
		decodeHex(cpu.cur, gs[0], nil)
		cpu.synced = bytes.Clone(cpu.cur)
		info, _ := fakeMap.Lookup("rip")
		copy(cpu.synced[info.Offset:], []byte{0x18, 0, 0, 0, 0, 0, 0, 0})
		// The interrupt finds the vCPU elsewhere: the second g's state.
		f.onStop = func(f *fakeStub) { decodeHex(f.threads[0].cur, gs[1], nil) }
	})
	peer := newRawPeer(t, conn)
	for i, r := range session {
		var got string
		switch r.Request {
		case "<connect>":
			got = peer.packet()
		case "c":
			peer.send("c")
			peer.ack()
			waitFor(t, "the fake to run", f.isRunning)
			continue
		case "\x03":
			conn.Write([]byte{0x03})
			got = peer.packet()
		default:
			got = peer.exchange(r.Request)
		}
		if got != *r.Reply {
			t.Errorf("#%d %q: fake replied %q, QEMU replied %q", i, r.Request, short([]byte(got)), short([]byte(*r.Reply)))
		}
	}
}

// TestFakeReplaysKVMWatchpoint: with no debug register taken, QEMU under
// KVM accepts a watchpoint (which then never fires).
func TestFakeReplaysKVMWatchpoint(t *testing.T) {
	f, conn := newFake(t, fakeOpts{kvm: true})
	f.set(func(f *fakeStub) { f.multiproc = true }) // QEMU kept it from the previous session
	peer := newRawPeer(t, conn)
	for i, r := range loadSession(t, "kvm-watchpoint.json") {
		if r.Request == "<connect>" {
			continue // the recorded T02: the fake's guest was not running
		}
		if got := peer.exchange(r.Request); got != *r.Reply {
			t.Errorf("#%d %q: fake replied %q, QEMU replied %q", i, r.Request, short([]byte(got)), short([]byte(*r.Reply)))
		}
	}
}
