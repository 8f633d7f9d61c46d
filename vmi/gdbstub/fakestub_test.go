package gdbstub

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStub is a scripted stand-in for QEMU 7.2's gdbstub, for unit tests.
// It handles bytes the way QEMU's gdb_read_byte does (see the comments on
// feed) and answers from a small model of the guest whose replies come
// from recordings of the real stub (testdata/qemu-7.2): the target
// description, the step flags, and under KVM the stale "p", the four
// debug registers and the silent watchpoints. TestFakeReplaysKVMSession
// checks the model against a recorded KVM session.
type fakeStub struct {
	tb         testing.TB
	conn       net.Conn
	packetSize int
	kvm        bool
	rle        bool
	offerNoAck bool
	noAck      bool

	mu          sync.Mutex
	running     bool
	lastPacket  []byte // for '-': QEMU resends it until it sees '+' or '$'
	state       int    // parser state, as QEMU's RS_*
	raw         []byte
	csum        []byte
	log         []string // packets received, and markers in <>
	multiproc   bool
	xmlRead     bool
	physMode    bool
	sstepFlags  uint64
	threads     []*fakeCPU
	gThread     int // index into threads: Hg
	cThread     int // Hc, and the thread a stop reports
	breakpoints map[string]bool
	memory      map[uint64]byte // bytes written with M (virtual and physical alike)

	// Scripted misbehaviour.
	nak     map[string]int // NAK the next n receipts of a packet
	corrupt map[string]int // send the reply to a packet with a bad checksum n times
	swallow string         // a packet starting with this gets no ack and no reply
	closeOn string         // a packet starting with this closes the connection
	holdM   int            // hold "m" replies until this many "m" requests are in
	// holdReplyTo: the reply to a packet starting with this waits until
	// the next packet arrives (and goes out before it is handled, as
	// QEMU answers in order): a client that waits for it before sending
	// on waits for ever.
	holdReplyTo string
	heldReply   *string
	stepSignal  int // the signal a step's stop reports; 0 means SIGTRAP
	heldM       []string
	onStop      func(f *fakeStub) // runs when the guest stops (interrupt, step, hit)
	sentRaw     []string          // everything written, for framing checks
	received    bytes.Buffer      // every byte received
}

// fakeCPU is one vCPU: cur is its real state, synced what QEMU's copy
// holds. Under KVM "p" reads synced, which only "g" refreshes.
type fakeCPU struct {
	cur, synced []byte
}

var fakeMap = func() *RegisterMap {
	m, err := loadTargetDescription(func(annex string) ([]byte, error) {
		return os.ReadFile(filepath.Join("testdata", "qemu-7.2", annex))
	})
	if err != nil {
		panic(err)
	}
	return m
}()

const (
	rsIdle = iota
	rsGetLine
	rsChksum1
	rsChksum2
)

// fakeOpts shape a fake stub.
type fakeOpts struct {
	kvm        bool // KVM's quirks; otherwise TCG
	cpus       int  // vCPUs; 0 means 1
	running    bool // the guest runs when the client connects: QEMU stops it and says T02
	packetSize int  // 0 means QEMU's 0x1000
	rle        bool // run-length encode replies, as gdbserver does
	offerNoAck bool // offer QStartNoAckMode (QEMU 7.2 does not)
}

// newFake starts a fake stub and a connection to it.
func newFake(tb testing.TB, o fakeOpts) (*fakeStub, net.Conn) {
	tb.Helper()
	dir, err := os.MkdirTemp("", "gs")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server, err := l.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	kvm, cpus := o.kvm, max(o.cpus, 1)
	f := &fakeStub{tb: tb, conn: server, packetSize: cmp.Or(o.packetSize, 0x1000), kvm: kvm, rle: o.rle, offerNoAck: o.offerNoAck, sstepFlags: 7,
		breakpoints: map[string]bool{}, memory: map[uint64]byte{}, nak: map[string]int{}, corrupt: map[string]int{}}
	if kvm {
		f.sstepFlags = 3 // measured: KVM offers ENABLE|NOIRQ only
	}
	for i := range cpus {
		regs := make([]byte, fakeMap.Size())
		f.threads = append(f.threads, &fakeCPU{cur: regs, synced: regs})
		f.setReg(i, "rip", 0xfffff80000001000+uint64(i)*0x100)
		f.threads[i].synced = bytes.Clone(f.threads[i].cur)
	}
	tb.Cleanup(func() { server.Close(); client.Close() })
	if o.running {
		// Connecting stops a running guest, and QEMU says so at once,
		// before multiprocess ids are negotiated.
		f.mu.Lock()
		f.reply(fmt.Sprintf("T%02xthread:%s;", SignalInt, f.threadID(0)))
		f.mu.Unlock()
	}
	go f.serve()
	return f, client
}

func (f *fakeStub) setReg(cpu int, name string, v uint64) {
	info, _ := fakeMap.Lookup(name)
	for i := range info.Size() {
		f.threads[cpu].cur[info.Offset+i] = byte(v >> (8 * i))
	}
}

func (f *fakeStub) serve() {
	buf := make([]byte, 4096)
	for {
		n, err := f.conn.Read(buf)
		if err != nil {
			return
		}
		f.mu.Lock()
		f.received.Write(buf[:n])
		for _, ch := range buf[:n] {
			f.feed(ch)
		}
		f.mu.Unlock()
	}
}

// feed follows QEMU 7.2's gdb_read_byte (system emulation).
func (f *fakeStub) feed(ch byte) {
	if f.lastPacket != nil {
		// Waiting for the ack of our last packet.
		if ch == '-' {
			f.write(f.lastPacket)
		}
		if ch == '+' || ch == '$' {
			f.lastPacket = nil
		}
		if ch != '$' {
			return
		}
	}
	if f.running {
		// "When the CPU is running, we cannot do anything except stop
		// it when receiving a char": the byte is spent on the stop.
		f.log = append(f.log, fmt.Sprintf("<stopped by %q>", ch))
		f.stop(fmt.Sprintf("T%02xthread:%s;", SignalInt, f.threadID(f.cThread)))
		return
	}
	switch f.state {
	case rsIdle:
		if ch == '$' {
			f.raw, f.state = f.raw[:0], rsGetLine
		}
	case rsGetLine:
		switch {
		case ch == '#':
			f.state = rsChksum1
		case len(f.raw) >= f.packetSize-1:
			// QEMU's buffer overflows: the packet is dropped, no reply.
			f.log = append(f.log, "<overflow>")
			f.state = rsIdle
		default:
			f.raw = append(f.raw, ch)
		}
	case rsChksum1:
		f.csum, f.state = []byte{ch}, rsChksum2
	case rsChksum2:
		f.state = rsIdle
		var sum byte
		for _, b := range f.raw {
			sum += b
		}
		want, ok := parseHexByte(f.csum[0], ch)
		if !ok || want != sum {
			f.writeStr("-")
			return
		}
		payload, err := unescape(f.raw, 1<<20)
		if err != nil {
			f.tb.Errorf("fake stub: bad packet %q: %v", f.raw, err)
			return
		}
		f.packet(string(payload))
	}
}

func (f *fakeStub) packet(p string) {
	f.log = append(f.log, p)
	if f.heldReply != nil {
		f.log = append(f.log, "<held reply sent>")
		f.reply(*f.heldReply)
		f.heldReply = nil
	}
	if n := f.nak[p]; n > 0 {
		f.nak[p] = n - 1
		f.writeStr("-")
		return
	}
	if f.swallow != "" && strings.HasPrefix(p, f.swallow) {
		return
	}
	if f.closeOn != "" && strings.HasPrefix(p, f.closeOn) {
		f.conn.Close()
		return
	}
	if !f.noAck {
		f.writeStr("+")
	}
	if f.holdM > 0 && strings.HasPrefix(p, "m") {
		f.heldM = append(f.heldM, p)
		if len(f.heldM) >= f.holdM {
			f.releaseHeld()
		}
		return
	}
	if r, ok := f.answerOrResume(p); ok {
		if f.holdReplyTo != "" && strings.HasPrefix(p, f.holdReplyTo) {
			f.heldReply = &r
			return
		}
		if n := f.corrupt[p]; n > 0 {
			f.corrupt[p] = n - 1
			bad := appendPacket(nil, []byte(r))
			bad[len(bad)-1] ^= 1 // wrong checksum
			f.write(bad)
			f.lastPacket = appendPacket(nil, []byte(r))
			return
		}
		f.reply(r)
	}
}

// releaseHeld answers the held "m" requests and stops holding (mu held).
func (f *fakeStub) releaseHeld() {
	for _, m := range f.heldM {
		f.reply(f.answer(m))
	}
	f.heldM, f.holdM = nil, 0
}

// answerOrResume handles resumes (no reply) and answers everything else.
func (f *fakeStub) answerOrResume(p string) (string, bool) {
	switch {
	case p == "c" || p == "vCont;c":
		f.running = true
		return "", false
	case strings.HasPrefix(p, "vCont;s:") || p == "s":
		th := f.cThread
		if p != "s" {
			th = f.thread(strings.TrimPrefix(p, "vCont;s:"))
		}
		// The step runs at once: one two-byte instruction.
		rip, _ := f.regs(th).Uint("rip")
		f.setReg(th, "rip", rip+2)
		f.cThread = th
		f.stop(fmt.Sprintf("T%02xthread:%s;", cmp.Or(f.stepSignal, SignalTrap), f.threadID(th)))
		return "", false
	case p == "D;1":
		f.running = true
		return "OK", true
	}
	return f.answer(p), true
}

func (f *fakeStub) regs(th int) *Registers {
	r, _ := parseRegisters(fakeMap, ThreadID{}, appendHex(nil, f.threads[th].cur))
	return r
}

// answer is the model's reply to a packet that does not resume.
func (f *fakeStub) answer(p string) string {
	cmd, arg, _ := strings.Cut(p, ":")
	switch {
	case strings.HasPrefix(p, "qSupported"):
		f.multiproc = strings.Contains(p, "multiprocess+")
		noAck := ""
		if f.offerNoAck {
			noAck = ";QStartNoAckMode+"
		}
		return fmt.Sprintf("PacketSize=%x;qXfer:features:read+;vContSupported+;multiprocess+%s", f.packetSize, noAck)
	case p == "QStartNoAckMode" && f.offerNoAck:
		f.noAck = true // from after this reply on
		return "OK"
	case strings.HasPrefix(p, "qXfer:features:read:"):
		return f.xfer(strings.TrimPrefix(p, "qXfer:features:read:"))
	case p == "vCont?":
		return "vCont;c;C;s;S"
	case p == "qqemu.sstepbits":
		if f.kvm {
			return "ENABLE=1,NOIRQ=2"
		}
		return "ENABLE=1,NOIRQ=2,NOTIMER=4"
	case strings.HasPrefix(p, "Qqemu.sstep="):
		v, _ := parseHexUint(strings.TrimPrefix(p, "Qqemu.sstep="))
		supported := uint64(7)
		if f.kvm {
			supported = 3
		}
		if v&^supported != 0 {
			return "E22"
		}
		f.sstepFlags = v
		return "OK"
	case p == "qqemu.PhyMemMode":
		return map[bool]string{false: "0", true: "1"}[f.physMode]
	case cmd == "Qqemu.PhyMemMode":
		f.physMode = arg == "1"
		return "OK"
	case p == "?":
		clear(f.breakpoints) // "?" removes every breakpoint
		return fmt.Sprintf("T%02xthread:%s;", SignalTrap, f.threadID(f.cThread))
	case p == "qfThreadInfo":
		return "m" + f.threadID(0)
	case p == "qsThreadInfo":
		// One id per reply, as QEMU does; the fake keeps no cursor and
		// lists at most two.
		if len(f.threads) > 1 && !strings.HasSuffix(f.log[len(f.log)-2], "qsThreadInfo") {
			return "m" + f.threadID(1)
		}
		return "l"
	case strings.HasPrefix(p, "Hg"):
		f.gThread = f.thread(p[2:])
		return "OK"
	case strings.HasPrefix(p, "Hc"):
		f.cThread = f.thread(p[2:])
		return "OK"
	case p == "g":
		cpu := f.threads[f.gThread]
		cpu.synced = bytes.Clone(cpu.cur) // cpu_synchronize_state
		return string(appendHex(nil, cpu.cur))
	case strings.HasPrefix(p, "G"):
		b := make([]byte, fakeMap.Size())
		if !decodeHex(b, []byte(p[1:]), nil) {
			return "E22"
		}
		f.threads[f.gThread].cur = b
		f.threads[f.gThread].synced = bytes.Clone(b)
		return "OK"
	case strings.HasPrefix(p, "p"):
		if !f.xmlRead {
			return "" // QEMU answers p only after target.xml was read
		}
		info, ok := f.regNum(p[1:])
		if !ok {
			return "E14"
		}
		src := f.threads[f.gThread].cur
		if f.kvm {
			src = f.threads[f.gThread].synced // stale until "g"
		}
		return string(appendHex(nil, src[info.Offset:info.Offset+info.Size()]))
	case strings.HasPrefix(p, "P"):
		num, val, _ := strings.Cut(p[1:], "=")
		info, ok := f.regNum(num)
		b := make([]byte, info.Size())
		if !ok || !decodeHex(b, []byte(val), nil) {
			return "E22"
		}
		copy(f.threads[f.gThread].cur[info.Offset:], b)
		copy(f.threads[f.gThread].synced[info.Offset:], b)
		return "OK"
	case strings.HasPrefix(p, "m"):
		addr, n, ok := addrLen(p[1:])
		if !ok || n > 2048 {
			return "E22"
		}
		out := make([]byte, n)
		for i := range out {
			a := addr + uint64(i)
			if !f.physMode && a >= 1<<63 && a < 0xffff800000000000 {
				return "E14" // non-canonical: nothing maps it
			}
			out[i] = f.mem(a)
		}
		return string(appendHex(nil, out))
	case strings.HasPrefix(p, "M"):
		head, data, _ := strings.Cut(p[1:], ":")
		addr, n, ok := addrLen(head)
		b := make([]byte, n)
		if !ok || !decodeHex(b, []byte(data), nil) {
			return "E22"
		}
		for i, v := range b {
			f.memory[addr+uint64(i)] = v
		}
		return "OK"
	case len(p) > 1 && (p[0] == 'Z' || p[0] == 'z'):
		return f.breakpoint(p)
	case p == "D":
		return "E22" // with multiprocess, QEMU wants D;1
	}
	return ""
}

// mem is guest memory: what M wrote, else a pattern of the address.
func (f *fakeStub) mem(a uint64) byte {
	if v, ok := f.memory[a]; ok {
		return v
	}
	return byte(a*7 + a>>8)
}

func (f *fakeStub) breakpoint(p string) string {
	kind := p[1] - '0'
	key := "Z" + p[1:]
	if p[0] == 'z' {
		if !f.breakpoints[key] {
			return "E22"
		}
		delete(f.breakpoints, key)
		return "OK"
	}
	if f.kvm && kind >= 1 {
		// Z1–Z4 share the four debug registers (all vCPUs together).
		used := 0
		for k := range f.breakpoints {
			if k[1] != '0' {
				used++
			}
		}
		if used >= 4 {
			return "E22"
		}
	}
	f.breakpoints[key] = true
	return "OK"
}

func addrLen(s string) (uint64, int, bool) {
	a, l, ok := strings.Cut(s, ",")
	addr, ok1 := parseHexUint(a)
	n, ok2 := parseHexUint(l)
	return addr, int(n), ok && ok1 && ok2
}

func (f *fakeStub) regNum(s string) (RegisterInfo, bool) {
	n, ok := parseHexUint(s)
	if !ok {
		return RegisterInfo{}, false
	}
	for _, r := range fakeMap.Registers() {
		if uint64(r.Number) == n {
			return r, true
		}
	}
	return RegisterInfo{}, false
}

func (f *fakeStub) xfer(s string) string {
	annex, span, _ := strings.Cut(s, ":")
	off, n, ok := addrLen(span)
	data, err := os.ReadFile(filepath.Join("testdata", "qemu-7.2", annex))
	if !ok || err != nil {
		return "E00"
	}
	f.xmlRead = true
	n = min(n, (f.packetSize-5)/2) // QEMU's clamp
	if off > uint64(len(data)) {
		return "E00"
	}
	end := min(len(data), int(off)+n)
	if end == len(data) {
		return "l" + string(data[off:end])
	}
	return "m" + string(data[off:end])
}

func (f *fakeStub) thread(s string) int {
	t, err := ParseThreadID(s)
	if err != nil || t.Tid <= 0 || int(t.Tid) > len(f.threads) {
		return f.gThread // -1 and 0: keep the current one, as QEMU does
	}
	return int(t.Tid) - 1
}

func (f *fakeStub) threadID(i int) string {
	if f.multiproc {
		return fmt.Sprintf("p01.%02x", i+1)
	}
	return fmt.Sprintf("%02x", i+1)
}

// stop stops the guest and sends the stop reply (mu held).
func (f *fakeStub) stop(reply string) {
	f.running = false
	if f.onStop != nil {
		f.onStop(f)
	}
	f.reply(reply)
}

func (f *fakeStub) reply(r string) {
	pkt := appendPacket(nil, []byte(r))
	if f.rle {
		pkt = appendPacketRLE(nil, []byte(r))
	}
	if !f.noAck {
		f.lastPacket = pkt
	}
	f.write(pkt)
}

func (f *fakeStub) writeStr(s string) { f.write([]byte(s)) }

func (f *fakeStub) write(b []byte) {
	f.sentRaw = append(f.sentRaw, string(b))
	f.conn.Write(b)
}

// hit stops a running guest as a breakpoint would, on vCPU th (index).
func (f *fakeStub) hit(th int, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running {
		f.tb.Fatalf("fake stub: hit while stopped")
	}
	f.cThread = th
	f.stop(fmt.Sprintf("T%02xthread:%s;%s", SignalTrap, f.threadID(th), reason))
}

// resumeBehindBack resumes the guest as QMP "cont" would: the stub says
// nothing.
func (f *fakeStub) resumeBehindBack() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running = true
}

func (f *fakeStub) isRunning() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running
}

// packets returns the log of packets received (and <markers>).
func (f *fakeStub) packets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeStub) set(fn func(f *fakeStub)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// recorded is one exchange of a recorded session.
type recorded struct {
	Request string  `json:"request"`
	Reply   *string `json:"reply"`
}

func loadSession(tb testing.TB, name string) []recorded {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "qemu-7.2", name))
	if err != nil {
		tb.Fatal(err)
	}
	var s []recorded
	if err := json.Unmarshal(data, &s); err != nil {
		tb.Fatal(err)
	}
	return s
}

// waitFor polls cond: the fake runs in its own goroutine.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// appendPacketRLE frames payload with run-length encoding: a run of n+1
// equal bytes becomes "X*" and the count byte n+29, never '#' or '$'
// (counts 6 and 7), and at most 97 repeats per run. Only for bytes that
// need no escaping.
func appendPacketRLE(dst, payload []byte) []byte {
	var body []byte
	for i := 0; i < len(payload); {
		c := payload[i]
		run := 1
		for i+run < len(payload) && payload[i+run] == c && run < 98 {
			run++
		}
		if needsEscape(c) {
			body = append(body, '}', c^0x20)
			i++
			continue
		}
		repeat := run - 1
		for repeat == 6 || repeat == 7 {
			repeat-- // '#' and '$' cannot be counts
		}
		if repeat < 3 {
			body = append(body, c)
			i++
			continue
		}
		body = append(body, c, '*', byte(repeat+29))
		i += repeat + 1
	}
	var sum byte
	for _, b := range body {
		sum += b
	}
	dst = append(dst, '$')
	dst = append(dst, body...)
	return append(dst, '#', hexDigits[sum>>4], hexDigits[sum&0xf])
}

// contextWithCancelAfterFirst returns a context cancelled as soon as the
// fake has received packet p.
func contextWithCancelAfterFirst(t *testing.T, f *fakeStub, p string) (context.Context, context.CancelFunc) {
	cx, cancel := context.WithCancel(context.Background())
	go func() {
		for cx.Err() == nil {
			if slices.Contains(f.packets(), p) {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	t.Cleanup(cancel)
	return cx, cancel
}
