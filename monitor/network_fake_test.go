package monitor

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/nt/nttest"
	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// The network monitor on a fake Windows 10 guest: nttest's kernel with
// the real ISF (its _MDL, _KPCR, _ETHREAD, _EPROCESS), and an "ndis" PDB
// made here holding NET_BUFFER_LIST and NET_BUFFER, as ndis.pdb does.

// ndisPDB is a module PDB with the two NDIS types, members hoisted as a
// PDB has them, in an order of this test's choosing.
func ndisPDB(t testing.TB) *symbols.Table {
	ptr := symbols.TypeRef{Kind: symbols.KindPointer, Sub: &symbols.TypeRef{Kind: symbols.KindBase, Name: "void"}}
	u32 := symbols.TypeRef{Kind: symbols.KindBase, Name: "unsigned long"}
	d := &symbols.Data{
		BaseTypes: map[string]symbols.BaseType{
			"unsigned long": {Size: 4, Kind: symbols.BaseInt}, "void": {Kind: symbols.BaseVoid}, symbols.PointerType: {Size: 8, Kind: symbols.BaseInt},
		},
		UserTypes: map[string]*symbols.UserType{
			"_NET_BUFFER": {Kind: symbols.KindStruct, Size: 0x50, Fields: []symbols.Member{
				{Name: "DataLength", Offset: 0x28, Type: u32}, {Name: "CurrentMdlOffset", Offset: 0x20, Type: u32},
				{Name: "CurrentMdl", Offset: 0x10, Type: ptr}, {Name: "Next", Offset: 0x08, Type: ptr},
			}},
			"_NET_BUFFER_LIST": {Kind: symbols.KindStruct, Size: 0x30, Fields: []symbols.Member{
				{Name: "FirstNetBuffer", Offset: 0x18, Type: ptr}, {Name: "Next", Offset: 0x00, Type: ptr},
			}},
		},
		Enums:   map[string]*symbols.Enum{},
		Symbols: map[string]symbols.Symbol{},
	}
	tab, err := symbols.New(d)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

type netGuest struct {
	*fakeGuest
	ndis   nt.Ndis
	pdb    *symbols.Table
	kpcr   uint64
	sendVA uint64
	recvVA uint64
}

func newNetGuest(t *testing.T) *netGuest {
	f := newFakeGuest(t)
	pdb := ndisPDB(t)
	l, err := nt.NewNetLayout(pdb, f.g.Tab)
	if err != nil {
		t.Fatal(err)
	}
	// Two code addresses in the image stand for ndis's functions.
	send, recv := uint64(nttest.KernelBase+0x2000), uint64(nttest.KernelBase+0x2100)
	img := nt.ImageRef{Name: "ndis.sys", Base: nttest.KernelBase, Size: f.g.ImageSize}
	n := nt.Ndis{Module: "ndis", Layout: l,
		Send:    nt.Symbol{Addr: send, Image: img, Name: nt.NdisSendFunction},
		Receive: nt.Symbol{Addr: recv, Image: img, Name: nt.NdisReceiveFunction}}
	return &netGuest{fakeGuest: f, ndis: n, pdb: pdb, sendVA: send, recvVA: recv}
}

// current makes a KPCR whose current thread is tid of a process pid named
// name, for the next hits.
func (g *netGuest) current(pid, tid uint64, name string) {
	gg := g.g
	ep := gg.Process(pid, 0, name)
	et := gg.AllocType("_ETHREAD")
	gg.Set("_ETHREAD", et, "Cid.UniqueThread", tid)
	gg.Set("_ETHREAD", et, "Cid.UniqueProcess", pid)
	kproc := gg.Addr("_EPROCESS", ep, "Pcb")
	gg.Set("_ETHREAD", et, "Tcb.Process", kproc)
	gg.Set("_ETHREAD", et, "Tcb.ApcState.Process", kproc)
	g.kpcr = gg.AllocType("_KPCR")
	gg.Set("_KPCR", g.kpcr, "Self", g.kpcr)
	gg.Set("_KPCR", g.kpcr, "Prcb.CurrentThread", gg.Addr("_ETHREAD", et, "Tcb"))
}

func (g *netGuest) putPDB(typ string, va uint64, name string, v uint64) {
	f, err := g.pdb.Field(typ + "." + name)
	if err != nil {
		g.t.Fatal(err)
	}
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	g.g.Write(va+f.Offset, b[:f.Size])
}

func (g *netGuest) off(typ, name string) uint64 {
	f, err := g.pdb.Field(typ + "." + name)
	if err != nil {
		g.t.Fatal(err)
	}
	return f.Offset
}

func (g *netGuest) alloc(typ string) uint64 {
	n, err := g.pdb.Size(typ)
	if err != nil {
		g.t.Fatal(err)
	}
	return g.g.Alloc(n)
}

// nbl lays out one NBL holding one NB per frame, each frame split over
// two MDLs (the first starting 6 bytes in).
func (g *netGuest) nbl(frames ...[]byte) uint64 {
	l := g.alloc("_NET_BUFFER_LIST")
	var prev uint64
	for _, fr := range frames {
		half := len(fr) / 2
		m1, m2 := g.mdl(append(make([]byte, 6), fr[:half]...)), g.mdl(fr[half:])
		g.g.Set("_MDL", m1, "Next", m2)
		nb := g.alloc("_NET_BUFFER")
		g.putPDB("_NET_BUFFER", nb, "CurrentMdl", m1)
		g.putPDB("_NET_BUFFER", nb, "CurrentMdlOffset", 6)
		g.putPDB("_NET_BUFFER", nb, "DataLength", uint64(len(fr)))
		if prev == 0 {
			g.putPDB("_NET_BUFFER_LIST", l, "FirstNetBuffer", nb)
		} else {
			g.putPDB("_NET_BUFFER", prev, "Next", nb)
		}
		prev = nb
	}
	return l
}

func (g *netGuest) mdl(data []byte) uint64 {
	buf := g.g.Alloc(uint64(len(data)))
	g.g.Write(buf, data)
	m := g.g.AllocType("_MDL")
	g.g.Set("_MDL", m, "MappedSystemVa", buf)
	g.g.Set("_MDL", m, "ByteCount", uint64(len(data)))
	return m
}

// hit stops the guest at fn with the NBL chain in rdx and waits for the
// guest to run again (the handler is done).
func (g *netGuest) hit(ctx context.Context, fn, handle, head uint64) {
	g.t.Helper()
	regs := g.g.Registers(fn, g.g.Call(nttest.KernelBase+0x3000))
	regs["rcx"], regs["rdx"], regs["gs_base"] = handle, head, g.kpcr
	n := g.tg.Count(vmitest.OpResume)
	if _, err := g.tg.Hit(ctx, cpu0, regs); err != nil {
		g.t.Fatal(err)
	}
	g.waitResumed(ctx, n)
}

func (g *netGuest) watch(ctx context.Context, opt NetworkOptions) *Network {
	g.t.Helper()
	opt.Physical = vmi.ReaderAt(g.tg)
	w, err := WatchNetwork(ctx, g.mgr, g.k, g.ndis, opt)
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { w.Close(context.Background()) })
	return w
}

func drain(w *Network) []FrameEvent {
	var out []FrameEvent
	for {
		select {
		case e := <-w.Events():
			out = append(out, e)
		default:
			return out
		}
	}
}

// Sends and receives: every frame of a chained call, whole, in order,
// attributed to the current thread, decoded.
func TestNetworkSendAndReceive(t *testing.T) {
	ctx := testCtx(t)
	g := newNetGuest(t)
	w := g.watch(ctx, NetworkOptions{})
	if a := g.tg.Armed(); len(a) != 2 || w.Armed()[0].Armed.Addr != g.sendVA || w.Armed()[1].Armed.Addr != g.recvVA {
		t.Fatalf("armed %v / %+v", a, w.Armed())
	}
	g.current(0x120, 0x124, "netclient.exe")
	sent := [][]byte{dnsQuery(t), udpDatagram(t)}
	first := g.nbl(sent[0])
	g.putPDB("_NET_BUFFER_LIST", first, "Next", g.nbl(sent[1]))
	g.hit(ctx, g.sendVA, 0xffffa000cafe0000, first)
	g.current(4, 8, "System")
	g.hit(ctx, g.recvVA, 0xffffa000beef0000, g.nbl(arpRequest(t), pingRequest(t)))
	evs := drain(w)
	if len(evs) != 4 {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	want := []struct {
		dir   Direction
		frame []byte
		pid   uint64
		proc  string
		iface uint64
		layer string
	}{
		{Send, sent[0], 0x120, "netclient.exe", 0xffffa000cafe0000, "DNS"},
		{Send, sent[1], 0x120, "netclient.exe", 0xffffa000cafe0000, "UDP"},
		{Receive, arpRequest(t), 4, "System", 0xffffa000beef0000, "ARP"},
		{Receive, pingRequest(t), 4, "System", 0xffffa000beef0000, "ICMPv4"},
	}
	for i, e := range evs {
		w := want[i]
		if e.Direction != w.dir || !bytes.Equal(e.Frame, w.frame) || e.PID != w.pid || e.Process != w.proc || e.Interface != w.iface ||
			e.Decoded.Layers[len(e.Decoded.Layers)-1] != w.layer || e.Seq != uint64(i+1) || e.Unreadable != "" || e.AttributionErr != "" {
			t.Errorf("event %d: %+v", i, e)
		}
	}
	if evs[1].Index != 1 || evs[3].Index != 1 || evs[0].NBL == evs[1].NBL {
		t.Errorf("indices and lists: %+v", evs)
	}
	c := w.Counters()
	if c.Calls != 2 || c.Frames != 4 || c.Lost != 0 || c.Unreadable != 0 || c.Bytes != uint64(len(sent[0])+len(sent[1])+len(arpRequest(t))+len(pingRequest(t))) {
		t.Errorf("counters %+v", c)
	}
}

// The expression drops frames before the queue; the process filter drops
// hits before any read.
func TestNetworkFilters(t *testing.T) {
	ctx := testCtx(t)
	g := newNetGuest(t)
	expr, err := ParseExpr("udp and port 53")
	if err != nil {
		t.Fatal(err)
	}
	byExpr := g.watch(ctx, NetworkOptions{Expr: expr})
	byProc := g.watch(ctx, NetworkOptions{Filter: Filter{Processes: []string{"netclient.exe"}}})
	g.current(0x120, 0x124, "netclient.exe")
	g.hit(ctx, g.sendVA, 1, g.nbl(dnsQuery(t), udpDatagram(t)))
	g.current(4, 8, "System")
	g.hit(ctx, g.sendVA, 1, g.nbl(dnsQuery(t)))
	evs := drain(byExpr)
	if len(evs) != 2 || !strings.Contains(evs[0].Decoded.Summary, "DNS query") || evs[1].Process != "System" {
		t.Errorf("expression: %+v", evs)
	}
	if c := byExpr.Counters(); c.Filtered != 1 || c.Frames != 2 {
		t.Errorf("expression counters %+v", c)
	}
	evs = drain(byProc)
	if len(evs) != 2 || evs[0].Process != "netclient.exe" || evs[1].Process != "netclient.exe" {
		t.Errorf("process: %+v", evs)
	}
}

// A frame whose MDL's bytes are not mapped is delivered without bytes,
// saying which MDL and why, and counted; the next frame is whole.
func TestNetworkUnreadableFrame(t *testing.T) {
	ctx := testCtx(t)
	g := newNetGuest(t)
	w := g.watch(ctx, NetworkOptions{})
	g.current(0x120, 0x124, "netclient.exe")
	head := g.nbl(dnsQuery(t), udpDatagram(t))
	// Point the first frame's second MDL at an unmapped page.
	first := g.g.U64(head + g.off("_NET_BUFFER_LIST", "FirstNetBuffer"))
	m1 := g.g.U64(first + g.off("_NET_BUFFER", "CurrentMdl"))
	m2 := g.g.U64(g.g.Addr("_MDL", m1, "Next"))
	g.g.Set("_MDL", m2, "MappedSystemVa", 0xffffb00000000000)
	g.hit(ctx, g.sendVA, 1, head)
	evs := drain(w)
	if len(evs) != 2 || evs[0].Frame != nil || !strings.Contains(evs[0].Unreadable, "MDL 1 at") || !bytes.Equal(evs[1].Frame, udpDatagram(t)) {
		t.Fatalf("%+v", evs)
	}
	if c := w.Counters(); c.Unreadable != 1 || len(c.Reasons) != 1 || c.Frames != 2 {
		t.Errorf("counters %+v", c)
	}
}

// A hit the monitor cannot attribute (no KPCR behind GS) still delivers
// its frames, saying why they have no process.
func TestNetworkUnattributed(t *testing.T) {
	ctx := testCtx(t)
	g := newNetGuest(t)
	w := g.watch(ctx, NetworkOptions{})
	g.hit(ctx, g.recvVA, 1, g.nbl(arpRequest(t)))
	evs := drain(w)
	if len(evs) != 1 || evs[0].AttributionErr == "" || !bytes.Equal(evs[0].Frame, arpRequest(t)) {
		t.Fatalf("%+v", evs)
	}
}

// A full queue loses frames, counted; the guest never waits.
func TestNetworkQueueFull(t *testing.T) {
	ctx := testCtx(t)
	g := newNetGuest(t)
	w := g.watch(ctx, NetworkOptions{Queue: 2})
	g.current(4, 8, "System")
	g.hit(ctx, g.recvVA, 1, g.nbl(arpRequest(t), pingRequest(t), dnsQuery(t), tcpSyn(t), udpDatagram(t)))
	evs := drain(w)
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	if c := w.Counters(); c.Lost != 3 || c.Frames != 2 {
		t.Errorf("counters %+v", c)
	}
	// A later frame's sequence number shows the gap.
	g.hit(ctx, g.recvVA, 1, g.nbl(arpRequest(t)))
	if e := <-w.Events(); e.Seq != 6 {
		t.Errorf("seq %d after the loss, want 6", e.Seq)
	}
}

// A broken chain (a list that is its own successor) delivers the frames
// before the break and counts a chain error; Close removes both
// breakpoints and ends Events.
func TestNetworkChainErrorAndClose(t *testing.T) {
	ctx := testCtx(t)
	g := newNetGuest(t)
	w, err := WatchNetwork(ctx, g.mgr, g.k, g.ndis, NetworkOptions{Physical: vmi.ReaderAt(g.tg)})
	if err != nil {
		t.Fatal(err)
	}
	g.current(4, 8, "System")
	l := g.nbl(arpRequest(t))
	g.putPDB("_NET_BUFFER_LIST", l, "Next", l)
	g.hit(ctx, g.recvVA, 1, l)
	if evs := drain(w); len(evs) != 1 {
		t.Errorf("%d events", len(evs))
	}
	if c := w.Counters(); c.ChainErrors != 1 || !strings.Contains(c.LastError, "cycle") {
		t.Errorf("counters %+v", c)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-w.Events(); ok {
		t.Error("Events open after Close")
	}
	if a := g.tg.Armed(); len(a) != 0 {
		t.Errorf("left armed: %v", a)
	}
}

// Stacks need a symbolizer; the monitor refuses without NDIS's layout.
func TestWatchNetworkNeeds(t *testing.T) {
	ctx := testCtx(t)
	g := newNetGuest(t)
	if _, err := WatchNetwork(ctx, g.mgr, g.k, g.ndis, NetworkOptions{Stack: true, Physical: vmi.ReaderAt(g.tg)}); err == nil {
		t.Error("stacks without a symbolizer")
	}
	if _, err := WatchNetwork(ctx, g.mgr, g.k, nt.Ndis{}, NetworkOptions{Physical: vmi.ReaderAt(g.tg)}); err == nil {
		t.Error("no layout")
	}
	if _, err := WatchNetwork(ctx, g.mgr, g.k, g.ndis, NetworkOptions{}); err == nil {
		t.Error("no physical memory and not coherent")
	}
}
