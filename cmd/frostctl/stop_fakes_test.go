package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// The fake frostd of the stop-and-inspect tests: one breakpoint that hits
// once, held, at nt!NtWriteFile+7 in a small function of known bytes; the
// Hold, Ack, Step, registers, stack, symbols and memory of that one hit.
// It records what the client did, in order, so the tests can check how
// the guest would be let go.

// The fake kernel function: NtWriteFile at fnBase, with what a debugger
// should make of each instruction.
const (
	fnBase   = 0xfffff80012340000
	fnCallee = fnBase + 0x40 // nt!IopWriteFile
	fnData   = fnBase + 0x1000
	hitRIP   = fnBase + 7
	hitRSP   = 0xfffff80099990f28
	hitCR3   = 0x1aa000
	hitPID   = 420
	// The page after fnBase's is not readable (paged out).
	unreadPage = fnBase + 0x1000
)

// fnCode is NtWriteFile's first bytes.
var fnCode = []byte{
	0x4c, 0x8b, 0xdc, // +0  mov r11, rsp
	0x48, 0x83, 0xec, 0x68, // +3  sub rsp, 0x68
	0x48, 0x8b, 0x05, 0xf2, 0x0f, 0x00, 0x00, // +7  mov rax, qword ptr [rip+0xff2] -> fnBase+0x1000
	0xe8, 0x2d, 0x00, 0x00, 0x00, // +0xe call fnBase+0x40
	0x74, 0x02, // +0x13 jz fnBase+0x17
	0x06, 0x06, // +0x15 (bad) (bad): push es is no 64-bit instruction
	0xc3, // +0x17 ret
}

type stopFake struct {
	pb.UnimplementedBreakpointServiceServer
	pb.UnimplementedCPUServiceServer
	pb.UnimplementedSymbolServiceServer
	pb.UnimplementedMemoryServiceServer

	mu        sync.Mutex
	log       []string // what happened, in order
	rip       uint64
	holdEnded chan string // "closed" (CloseSend) or "cancelled"
	subEnded  chan struct{}
	// expireHold makes the Hold end by itself (max_duration passed) once
	// the hit is acked.
	expireHold bool
	// stack answers GetStack when set; Unimplemented otherwise.
	stack *pb.GetStackResponse
}

func newStopFake() *stopFake {
	return &stopFake{rip: hitRIP, holdEnded: make(chan string, 1), subEnded: make(chan struct{})}
}

func (f *stopFake) note(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, s)
}

func (f *stopFake) events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *stopFake) regs() *pb.Registers {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &pb.Registers{Cpu: 0}
	vals := map[string]uint64{"rax": 0x1111, "rcx": 0x48, "rdx": 0x7ff6, "rsp": hitRSP, "rip": f.rip, "eflags": 0x246, "cs": 0x10, "ss": 0x18, "cr3": hitCR3}
	for _, n := range []string{"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "eflags", "cs", "ss", "cr3"} {
		r.Registers = append(r.Registers, &pb.Register{Name: n, Value: vals[n]})
	}
	r.Registers = append(r.Registers, &pb.Register{Name: "xmm0", Raw: make([]byte, 16)})
	return r
}

func (f *stopFake) Subscribe(req *pb.SubscribeRequest, stream pb.BreakpointService_SubscribeServer) error {
	defer close(f.subEnded)
	f.note("subscribe hold=" + boolText(req.GetHold()))
	if err := stream.Send(&pb.SubscribeResponse{Event: &pb.SubscribeResponse_Subscribed{Subscribed: &pb.Subscribed{
		SubscriptionId: 7, Breakpoints: []*pb.Breakpoint{{Id: 3, Address: fnBase, Symbol: "nt!NtWriteFile", Spec: req.GetBreakpoints()[0]}},
	}}}); err != nil {
		return err
	}
	hit := &pb.BreakpointHit{Sequence: 1, BreakpointId: 3, Time: timestamppb.Now(), Cpu: 0, Pid: hitPID, Tid: 424,
		ProcessName: "writer.exe", Address: hitRIP, Symbol: "nt!NtWriteFile+0x7", Registers: f.regs(),
		Held: req.GetHold(), HoldUntil: timestamppb.New(time.Now().Add(30 * time.Second))}
	if err := stream.Send(&pb.SubscribeResponse{Event: &pb.SubscribeResponse_Hit{Hit: hit}}); err != nil {
		return err
	}
	<-stream.Context().Done()
	f.note("subscription ended")
	return nil
}

func (f *stopFake) Ack(_ context.Context, req *pb.AckRequest) (*pb.AckResponse, error) {
	f.note("ack")
	if req.GetSubscriptionId() != 7 || req.GetSequence() != 1 {
		return nil, status.Error(codes.FailedPrecondition, "not held")
	}
	return &pb.AckResponse{}, nil
}

func (f *stopFake) Hold(stream pb.CPUService_HoldServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	f.note("hold " + first.GetMaxDuration().AsDuration().String())
	if err := stream.Send(&pb.HoldResponse{Stop: &pb.StopInfo{Sequence: 1, Reason: pb.StopReason_STOP_REASON_BREAKPOINT}}); err != nil {
		return err
	}
	if f.expireHold {
		f.note("hold expired")
		f.holdEnded <- "expired"
		return stream.Send(&pb.HoldResponse{Released: true, Expired: true})
	}
	_, err = stream.Recv()
	how := "closed"
	if !errors.Is(err, io.EOF) {
		how = "cancelled"
	}
	f.note("hold " + how)
	f.holdEnded <- how
	return stream.Send(&pb.HoldResponse{Released: true})
}

func (f *stopFake) GetRegisters(_ context.Context, req *pb.GetRegistersRequest) (*pb.GetRegistersResponse, error) {
	if req.Cpu == nil || req.GetCpu() != 0 {
		return nil, status.Error(codes.InvalidArgument, "cpu")
	}
	return &pb.GetRegistersResponse{Cpus: []*pb.Registers{f.regs()}}, nil
}

// Step moves RIP to the next instruction of fnCode.
func (f *stopFake) Step(_ context.Context, req *pb.StepRequest) (*pb.StepResponse, error) {
	f.note("step")
	f.mu.Lock()
	in, _ := decodeOne(fnCode[f.rip-fnBase:], f.rip, nil)
	f.rip += uint64(len(in.raw))
	f.mu.Unlock()
	return &pb.StepResponse{Stop: &pb.StopInfo{Sequence: 2, Reason: pb.StopReason_STOP_REASON_STEP, Registers: f.regs()}}, nil
}

func (f *stopFake) GetStack(_ context.Context, req *pb.GetStackRequest) (*pb.GetStackResponse, error) {
	if f.stack == nil {
		return nil, status.Error(codes.Unimplemented, "method GetStack not implemented")
	}
	return f.stack, nil
}

var fakeSymbols = []struct {
	name   string
	module string
	at     uint64
}{
	{"NtWriteFile", "nt", fnBase},
	{"IopWriteFile", "nt", fnCallee},
	{"IoFileObjectType", "nt", fnData},
}

func (f *stopFake) LookupAddress(_ context.Context, req *pb.LookupAddressRequest) (*pb.LookupAddressResponse, error) {
	if req.GetPid() != hitPID {
		return nil, status.Errorf(codes.InvalidArgument, "pid %d, want the hit's", req.GetPid())
	}
	var best *pb.LookupAddressResponse
	for _, s := range fakeSymbols {
		if req.GetAddress() >= s.at && req.GetAddress()-s.at < 0x1000 && (best == nil || req.GetAddress()-s.at < best.GetOffset()) {
			off := req.GetAddress() - s.at
			name := "nt!" + s.name
			if off > 0 {
				name += "+" + hexText(off)
			}
			best = &pb.LookupAddressResponse{Name: name, Module: s.module, Symbol: s.name, Offset: off, ModuleBase: fnBase, Source: pb.SymbolSource_SYMBOL_SOURCE_PDB}
		}
	}
	if best == nil {
		return &pb.LookupAddressResponse{Name: hexText(req.GetAddress())}, nil
	}
	return best, nil
}

func (f *stopFake) ResolveSymbol(_ context.Context, req *pb.ResolveSymbolRequest) (*pb.ResolveSymbolResponse, error) {
	for _, s := range fakeSymbols {
		if req.GetSymbol() == s.module+"!"+s.name {
			return &pb.ResolveSymbolResponse{Address: s.at, Module: s.module, ModuleBase: fnBase, Source: pb.SymbolSource_SYMBOL_SOURCE_PDB}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "no symbol %s", req.GetSymbol())
}

// ReadVirtual serves fnCode in fnBase's page (zeros after it) in the
// hit's address space; the next page is paged out.
func (f *stopFake) ReadVirtual(_ context.Context, req *pb.ReadVirtualRequest) (*pb.ReadVirtualResponse, error) {
	if req.GetSpace().GetDtb() != hitCR3 {
		return nil, status.Errorf(codes.InvalidArgument, "space %v, want the hit's CR3", req.GetSpace())
	}
	at, n := req.GetAddress(), req.GetLength()
	data := make([]byte, n)
	var pages []*pb.PageStatus
	for i := uint64(0); i < n; i++ {
		va := at + i
		switch {
		case va >= fnBase && va < fnBase+uint64(len(fnCode)):
			data[i] = fnCode[va-fnBase]
		case va >= unreadPage && va < unreadPage+0x1000:
			if len(pages) == 0 || pages[len(pages)-1].GetServed() {
				pages = append(pages, &pb.PageStatus{Address: va, Offset: i, Location: &pb.Location{State: pb.PageState_PAGE_STATE_PAGEFILE}, Reason: "in the paging file"})
			}
			pages[len(pages)-1].Length++
			continue
		case va >= hitRSP && va < hitRSP+0x100:
			data[i] = byte(va)
		}
		if len(pages) == 0 || !pages[len(pages)-1].GetServed() {
			pages = append(pages, &pb.PageStatus{Address: va, Offset: i, Served: true, Location: &pb.Location{State: pb.PageState_PAGE_STATE_VALID}})
		}
		pages[len(pages)-1].Length++
	}
	return &pb.ReadVirtualResponse{Data: data, Pages: pages, Dtb: hitCR3}, nil
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func hexText(v uint64) string { return fmt.Sprintf("%#x", v) }

// startStopFake serves f on a unix socket and returns its path.
func startStopFake(t *testing.T, f *stopFake) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "frostd.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterBreakpointServiceServer(srv, f)
	pb.RegisterCPUServiceServer(srv, f)
	pb.RegisterSymbolServiceServer(srv, f)
	pb.RegisterMemoryServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return path
}
