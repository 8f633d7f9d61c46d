package api

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/frostvmi/frost/nt"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/translate"
	"github.com/frostvmi/frost/vmi"
)

// movingTarget is a pageTarget that runs: each Resume lets the guest run
// for a moment and stop again (as a breakpoint hit would), reported on
// Events the way the stub reports a stop nobody asked for.
type movingTarget struct {
	*pageTarget
	mu      sync.Mutex
	running bool
	seq     uint64
	events  chan vmi.Event
	onRun   func() // what the guest does while it runs
}

func (m *movingTarget) Events() <-chan vmi.Event { return m.events }

func (m *movingTarget) Running() (bool, *vmi.Stop) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running {
		return true, nil
	}
	return false, &vmi.Stop{Seq: m.seq, Signal: 2}
}

func (m *movingTarget) Pause(context.Context) (*vmi.Stop, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running = false
	return &vmi.Stop{Seq: m.seq, Signal: 2}, nil
}

func (m *movingTarget) Resume(context.Context) error {
	m.mu.Lock()
	m.running = true
	m.mu.Unlock()
	if m.onRun != nil {
		m.onRun()
	}
	m.mu.Lock()
	m.running = false
	m.seq++
	stop := &vmi.Stop{Seq: m.seq, Signal: 2, Outside: true}
	m.mu.Unlock()
	m.events <- vmi.Event{Kind: vmi.EventStop, Time: time.Now(), Stop: stop}
	return nil
}

// Coherence is an event (issue 13, item 2): the manager resumes and
// re-stops the guest between two reads, with no RPC in between to tell
// the API; the guest remaps the page meanwhile; the second read sees the
// new page tables, not the first read's cached translation.
func TestTranslatorFollowsTheManager(t *testing.T) {
	layout, err := realLayout()
	if err != nil {
		t.Skip(err)
	}
	const (
		dtb      = 0x1000
		va       = 0x10000
		oldFrame = 0x8000
		newFrame = 0x9000
	)
	g := &pageTarget{pages: map[uint64][]byte{}}
	for _, pa := range []uint64{dtb, 0x2000, 0x3000, 0x4000} {
		g.pages[pa] = make([]byte, 4096)
	}
	g.pages[oldFrame] = bytes.Repeat([]byte{0x11}, 4096)
	g.pages[newFrame] = bytes.Repeat([]byte{0x22}, 4096)
	entry := func(pa uint64) uint64 { return layout.Valid.Mask() | 0x2 | (pa>>12)<<layout.PageFrameNumber.Pos }
	put := func(table, index, v uint64) {
		for i := range 8 {
			g.pages[table][index*8+uint64(i)] = byte(v >> (8 * i))
		}
	}
	put(dtb, 0, entry(0x2000))
	put(0x2000, 0, entry(0x3000))
	put(0x3000, 0, entry(0x4000))
	put(0x4000, va>>12&511, entry(oldFrame))

	tg := &movingTarget{pageTarget: g, seq: 1, events: make(chan vmi.Event, 4)}
	tg.onRun = func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		put(0x4000, va>>12&511, entry(newFrame)) // the guest remaps the page
	}
	tr, err := translate.New(translate.Config{Layout: layout, Physical: vmi.ReaderAt(tg)})
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig(&Config{})
	vm := addVM(t, c, "moving", tg)
	vm.UseKernel(&nt.Opened{Translator: tr})
	tr.Stopped() // as the session does for a kernel found at a stop
	s := &memoryService{c: c}
	read := func() byte {
		t.Helper()
		r, err := s.ReadVirtual(context.Background(), &pb.ReadVirtualRequest{
			Vm: "moving", Space: &pb.AddressSpace{Space: &pb.AddressSpace_Dtb{Dtb: dtb}}, Address: va, Length: 1})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetData()[0]
	}
	if got := read(); got != 0x11 {
		t.Fatalf("first read %#x, want the old frame's 0x11", got)
	}
	// The manager runs the guest on and it stops again, as in a hit
	// cycle: no RPC tells the API.
	if err := vm.Manager().Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if running, stop := tg.Running(); !running && stop.Seq == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the manager never saw the guest stop again")
		}
		time.Sleep(time.Millisecond)
	}
	if got := read(); got != 0x22 {
		t.Errorf("second read %#x, want the new frame's 0x22: the translator kept the old translation", got)
	}
}

// A write through Frost invalidates what the translator cached (issue 13,
// item 2): WritePhysical rewrites a page-table entry of a stopped guest,
// and the next read follows the new entry.
func TestTranslatorFollowsAWrite(t *testing.T) {
	layout, err := realLayout()
	if err != nil {
		t.Skip(err)
	}
	const (
		dtb      = 0x1000
		va       = 0x10000
		oldFrame = 0x8000
		newFrame = 0x9000
		ptPage   = 0x4000
	)
	g := &pageTarget{pages: map[uint64][]byte{}}
	for _, pa := range []uint64{dtb, 0x2000, 0x3000, ptPage} {
		g.pages[pa] = make([]byte, 4096)
	}
	g.pages[oldFrame] = bytes.Repeat([]byte{0x11}, 4096)
	g.pages[newFrame] = bytes.Repeat([]byte{0x22}, 4096)
	entry := func(pa uint64) []byte {
		v := layout.Valid.Mask() | 0x2 | (pa>>12)<<layout.PageFrameNumber.Pos
		b := make([]byte, 8)
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		return b
	}
	copy(g.pages[dtb], entry(0x2000))
	copy(g.pages[0x2000], entry(0x3000))
	copy(g.pages[0x3000], entry(ptPage))
	pte := uint64(ptPage + (va>>12&511)*8)
	copy(g.pages[ptPage][pte-ptPage:], entry(oldFrame))
	tr, err := translate.New(translate.Config{Layout: layout, Physical: vmi.ReaderAt(g)})
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig(&Config{AllowWrite: true})
	vm := addVM(t, c, "top", g)
	vm.UseKernel(&nt.Opened{Translator: tr})
	tr.Stopped()
	s := &memoryService{c: c}
	read := func() byte {
		t.Helper()
		r, err := s.ReadVirtual(context.Background(), &pb.ReadVirtualRequest{
			Vm: "top", Space: &pb.AddressSpace{Space: &pb.AddressSpace_Dtb{Dtb: dtb}}, Address: va, Length: 1})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetData()[0]
	}
	if got := read(); got != 0x11 {
		t.Fatalf("first read %#x, want 0x11", got)
	}
	if _, err := s.WritePhysical(context.Background(), &pb.WritePhysicalRequest{Vm: "top", Address: pte, Data: entry(newFrame)}); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != 0x22 {
		t.Errorf("read after rewriting the PTE %#x, want 0x22: the translator kept the old translation", got)
	}
}
