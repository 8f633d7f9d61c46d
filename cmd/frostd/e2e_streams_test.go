package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// checkBreakpointStream breaks on nt!NtWriteFile in writer.exe and takes
// three hits, each naming writer.exe; held, it acks each. Ending the
// stream removes its breakpoint.
func checkBreakpointStream(ctx context.Context, t *testing.T, cc *grpc.ClientConn, vm string, writer uint32, hold bool) {
	t.Helper()
	bp := pb.NewBreakpointServiceClient(cc)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := bp.Subscribe(sctx, &pb.SubscribeRequest{
		Vm: vm, Hold: hold, HoldDeadline: durationpb.New(10 * time.Second),
		Breakpoints: []*pb.BreakpointSpec{{
			Location: &pb.BreakpointSpec_Symbol{Symbol: "nt!NtWriteFile"},
			Filter:   &pb.BreakpointFilter{ProcessNames: []string{"writer.exe"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	sub := first.GetSubscribed()
	if sub == nil || len(sub.GetBreakpoints()) != 1 || sub.GetBreakpoints()[0].GetSymbol() != "nt!NtWriteFile" {
		t.Fatalf("first message: %v", first)
	}
	for i := 0; i < 3; i++ {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		hit := ev.GetHit()
		if hit == nil {
			t.Fatalf("event %d: %v", i, ev)
		}
		rip := uint64(0)
		for _, r := range hit.GetRegisters().GetRegisters() {
			if r.GetName() == "rip" {
				rip = r.GetValue()
			}
		}
		if hit.GetPid() != writer || hit.GetProcessName() != "writer.exe" || hit.GetHeld() != hold || hit.GetSymbol() != "nt!NtWriteFile" || rip != sub.GetBreakpoints()[0].GetAddress() {
			t.Errorf("hit %d: pid %d (writer.exe is %d) %q held %v symbol %q rip %#x", i, hit.GetPid(), writer, hit.GetProcessName(), hit.GetHeld(), hit.GetSymbol(), rip)
		}
		if !hold {
			continue
		}
		if _, err := bp.Ack(ctx, &pb.AckRequest{Vm: vm, SubscriptionId: sub.GetSubscriptionId(), Sequence: hit.GetSequence()}); err != nil {
			t.Errorf("Ack: %v", err)
		}
	}
	cancel()
	waitNoBreakpoints(ctx, t, cc, vm)
}

// waitNoBreakpoints waits, bounded, until the API lists no breakpoint: a
// stream's breakpoints go when it ends, which the server notices a moment
// after the client.
func waitNoBreakpoints(ctx context.Context, t *testing.T, cc *grpc.ClientConn, vm string) {
	t.Helper()
	bp := pb.NewBreakpointServiceClient(cc)
	deadline := time.Now().Add(guestWait)
	for {
		list, err := bp.ListBreakpoints(ctx, &pb.ListBreakpointsRequest{Vm: vm})
		if err == nil && len(list.GetBreakpoints()) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("breakpoints left after their stream ended: %v, %v", list.GetBreakpoints(), err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkMonitor streams writer.exe's NtWriteFile calls: their bytes are
// the messages writer.exe writes (integration/guest/README.md).
func checkMonitor(ctx context.Context, t *testing.T, cc *grpc.ClientConn, vm string, writer uint32) {
	t.Helper()
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := pb.NewMonitorServiceClient(cc).MonitorNtWriteFile(mctx, &pb.MonitorNtWriteFileRequest{
		Vm: vm, Filter: &pb.NtWriteFileFilter{ProcessNames: []string{"writer.exe"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		ev := resp.GetEvent()
		data := ev.GetData()
		if ev.GetPid() != writer || ev.GetProcessName() != "writer.exe" || int(ev.GetLength()) != len(data) ||
			!bytes.HasPrefix(data, []byte("frost-writer: message ")) || !bytes.HasSuffix(data, []byte(" from writer.exe\r\n")) {
			t.Errorf("NtWriteFile event: pid %d (writer.exe is %d) %q length %d data %q", ev.GetPid(), writer, ev.GetProcessName(), ev.GetLength(), data)
		}
		t.Logf("writer.exe wrote %q to %q", data, ev.GetFileName())
	}
	cancel()
	waitNoBreakpoints(ctx, t, cc, vm)
}

// checkWrites, with --allow-write: with the guest paused, a register write
// and a memory write (virtual, then physical) each read back changed; the
// originals go back before the guest resumes, so it runs on unharmed.
func checkWrites(ctx context.Context, t *testing.T, cc *grpc.ClientConn, d *testDomain, vm string, swapper uint32) {
	t.Helper()
	cpu, mem := pb.NewCPUServiceClient(cc), pb.NewMemoryServiceClient(cc)
	if _, err := cpu.Pause(ctx, &pb.PauseRequest{Vm: vm}); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if _, err := cpu.Resume(context.WithoutCancel(ctx), &pb.ResumeRequest{Vm: vm}); err != nil {
				t.Errorf("Resume: %v", err)
			}
		}
	}
	defer resume()

	rax := func() uint64 {
		regs, err := cpu.GetRegisters(ctx, &pb.GetRegistersRequest{Vm: vm})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range regs.GetCpus()[0].GetRegisters() {
			if r.GetName() == "rax" {
				return r.GetValue()
			}
		}
		t.Fatal("no rax")
		return 0
	}
	orig := rax()
	if _, err := cpu.SetRegisters(ctx, &pb.SetRegistersRequest{Vm: vm, Registers: []*pb.Register{{Name: "rax", Value: orig ^ 0x5a5a5a5a}}}); err != nil {
		t.Fatal(err)
	}
	if got := rax(); got != orig^0x5a5a5a5a {
		t.Errorf("rax after SetRegisters: %#x, want %#x", got, orig^0x5a5a5a5a)
	}
	if _, err := cpu.SetRegisters(ctx, &pb.SetRegistersRequest{Vm: vm, Registers: []*pb.Register{{Name: "rax", Value: orig}}}); err != nil {
		t.Fatal(err)
	}

	space := &pb.AddressSpace{Space: &pb.AddressSpace_Pid{Pid: swapper}}
	va := swapperPage(t, d, 6)
	marker := []byte("frost-e2e-write!")
	w, err := mem.WriteVirtual(ctx, &pb.WriteVirtualRequest{Vm: vm, Space: space, Address: va + 64, Data: marker})
	if err != nil || len(w.GetPages()) != 1 || !w.GetPages()[0].GetServed() {
		t.Fatalf("WriteVirtual: %v, %v", w.GetPages(), err)
	}
	want := patternPage(6)
	copy(want[64:], marker)
	rd, err := mem.ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: vm, Space: space, Address: va, Length: 4096})
	if err != nil || !bytes.Equal(rd.GetData(), want) {
		t.Errorf("ReadVirtual after WriteVirtual: %v, the page is as written: %v", err, bytes.Equal(rd.GetData(), want))
	}

	tr, err := mem.Translate(ctx, &pb.TranslateRequest{Vm: vm, Space: space, Address: va})
	if err != nil {
		t.Fatal(err)
	}
	pa := tr.GetProvenance().GetLocation().GetAddress()
	marker2 := []byte("physical write")
	if _, err := mem.WritePhysical(ctx, &pb.WritePhysicalRequest{Vm: vm, Address: pa + 128, Data: marker2}); err != nil {
		t.Fatal(err)
	}
	copy(want[128:], marker2)
	rp, err := mem.ReadPhysical(ctx, &pb.ReadPhysicalRequest{Vm: vm, Address: pa, Length: 4096})
	if err != nil || !bytes.Equal(rp.GetData(), want) {
		t.Errorf("ReadPhysical of %#x after WritePhysical: %v, the page is as written: %v", pa, err, bytes.Equal(rp.GetData(), want))
	}
	// The pattern back as it was: nothing in the guest is left changed.
	if _, err := mem.WritePhysical(ctx, &pb.WritePhysicalRequest{Vm: vm, Address: pa, Data: patternPage(6)}); err != nil {
		t.Errorf("restoring the page: %v", err)
	}
	n := d.writes(t)
	resume()
	d.waitMoreWrites(t, n)
	if strings.Contains(d.serialTail(), "bugcheck") {
		t.Errorf("the guest bugchecked after the writes:\n%s", d.serialTail())
	}
}
