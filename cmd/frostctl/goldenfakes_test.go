package main

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/frostvmi/frost/api"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// The golden server: startServer's fake guest behind the real API, with
// fakes for what needs a Windows kernel (processes, CPU state, symbols,
// breakpoint and monitor streams), so that every command prints a
// table and JSON of known content.

var goldenTime = timestamppb.New(time.Date(2026, 12, 6, 9, 0, 5, 0, time.UTC))

func goldenStop() *pb.StopInfo {
	return &pb.StopInfo{Sequence: 7, Cpu: 0, Reason: pb.StopReason_STOP_REASON_PAUSE, Time: goldenTime,
		Registers: &pb.Registers{Registers: []*pb.Register{{Name: "rip", Value: 0xfffff80012345678}}}, Symbol: "nt!KeDelayExecutionThread+0x1c"}
}

func (fakeCPU) Pause(_ context.Context, req *pb.PauseRequest) (*pb.PauseResponse, error) {
	lease := durationpb.New(30 * time.Second)
	if req.GetLease() != nil {
		lease = req.GetLease()
	}
	if req.GetLeaseId() != "" {
		// A renewal: the lease, without a stop.
		return &pb.PauseResponse{LeaseId: req.GetLeaseId(), Lease: lease}, nil
	}
	return &pb.PauseResponse{Stop: goldenStop(), WasRunning: true, LeaseId: "l-7", Lease: lease}, nil
}

func (fakeCPU) Resume(context.Context, *pb.ResumeRequest) (*pb.ResumeResponse, error) {
	return &pb.ResumeResponse{}, nil
}

func (fakeCPU) Step(context.Context, *pb.StepRequest) (*pb.StepResponse, error) {
	s := goldenStop()
	s.Reason, s.Sequence = pb.StopReason_STOP_REASON_STEP, 8
	return &pb.StepResponse{Stop: s}, nil
}

func (fakeCPU) GetStack(context.Context, *pb.GetStackRequest) (*pb.GetStackResponse, error) {
	return &pb.GetStackResponse{Cpu: 0, Pid: 420, Tid: 424, ProcessName: "writer.exe", Stack: &pb.Stack{Frames: []*pb.StackFrame{
		{Index: 0, Rip: 0xfffff80012345678, Rsp: 0xffffa00012340f00, Symbol: "nt!NtWriteFile", Module: "nt", ModuleBase: 0xfffff80012200000, Function: "NtWriteFile"},
		{Index: 1, Rip: 0x7ffb40001234, Rsp: 0x14fe00, Symbol: "ntdll!NtWriteFile+0x14", Module: "ntdll", ModuleBase: 0x7ffb40000000, Function: "NtWriteFile", Offset: 0x14, UserMode: true},
	}}}, nil
}

func (fakeProcesses) ListModules(_ context.Context, req *pb.ListModulesRequest) (*pb.ListModulesResponse, error) {
	return &pb.ListModulesResponse{Modules: []*pb.Module{
		{Name: "ntdll.dll", Path: `C:\Windows\System32\ntdll.dll`, Base: 0x7ffb40000000, Size: 0x1f0000,
			Pdb: &pb.PdbIdentity{PdbName: "ntdll.pdb", Guid: "0123456789ABCDEF0123456789ABCDEF", Age: 1}},
		{Name: "frostrt.dll", Path: `C:\frostrt.dll`, Base: 0x7ffb30000000, Size: 0x8000, PdbError: "no PDB in the store"},
	}}, nil
}

func (fakeProcesses) ListHandles(context.Context, *pb.ListHandlesRequest) (*pb.ListHandlesResponse, error) {
	return &pb.ListHandlesResponse{Handles: []*pb.Handle{
		{Handle: 0x4, Object: 0xffffd3017c400080, Type: "File", Name: `\Device\HarddiskVolume1\log.txt`, GrantedAccess: 0x120196},
	}}, nil
}

func (fakeProcesses) ListVads(context.Context, *pb.ListVadsRequest) (*pb.ListVadsResponse, error) {
	return &pb.ListVadsResponse{Vads: []*pb.Vad{
		{Start: 0x140000000, End: 0x140008fff, Vad: 0xffffd3017c500000, Protection: 7, ProtectionName: "EXECUTE_WRITECOPY", Type: "Mapped", FileName: `\writer.exe`},
		{Start: 0x14f000, End: 0x14ffff, Vad: 0xffffd3017c500100, Private: true, MemCommit: true, Protection: 4, ProtectionName: "READWRITE", Type: "Private"},
	}}, nil
}

// goldenSymbols answers the symbol lookups of nt in any scope.
type goldenSymbols struct {
	pb.UnimplementedSymbolServiceServer
}

func (goldenSymbols) ResolveSymbol(context.Context, *pb.ResolveSymbolRequest) (*pb.ResolveSymbolResponse, error) {
	return &pb.ResolveSymbolResponse{Address: 0xfffff80012345678, Module: "nt", ModuleBase: 0xfffff80012200000, Rva: 0x145678,
		Source: pb.SymbolSource_SYMBOL_SOURCE_PDB, Pdb: &pb.PdbIdentity{PdbName: "ntkrnlmp.pdb", Guid: "606FF669409B00F7FC8C61A9C1670129", Age: 1}}, nil
}

func (goldenSymbols) LookupAddress(context.Context, *pb.LookupAddressRequest) (*pb.LookupAddressResponse, error) {
	return &pb.LookupAddressResponse{Name: "nt!NtWriteFile+0x1c", Module: "nt", Symbol: "NtWriteFile", Offset: 0x1c, ModuleBase: 0xfffff80012200000, Source: pb.SymbolSource_SYMBOL_SOURCE_PDB}, nil
}

func (goldenSymbols) GetField(context.Context, *pb.GetFieldRequest) (*pb.GetFieldResponse, error) {
	return &pb.GetFieldResponse{Offset: 0x440, Size: 8, Kind: "pointer", TypeName: "pointer to void"}, nil
}

func (goldenSymbols) GetType(context.Context, *pb.GetTypeRequest) (*pb.GetTypeResponse, error) {
	return &pb.GetTypeResponse{Name: "_LIST_ENTRY", Kind: "struct", Size: 0x10, Members: []*pb.TypeMember{
		{Name: "Flink", Offset: 0, Kind: "pointer", TypeName: "pointer to _LIST_ENTRY"},
		{Name: "Blink", Offset: 8, Kind: "pointer", TypeName: "pointer to _LIST_ENTRY"},
	}}, nil
}

// fakeBreakpoints streams a subscription, one hit and the VM's going,
// then ends (frostctl says frostd ended it).
type fakeBreakpoints struct {
	pb.UnimplementedBreakpointServiceServer
}

func (fakeBreakpoints) Subscribe(req *pb.SubscribeRequest, s grpc.ServerStreamingServer[pb.SubscribeResponse]) error {
	// A stream that arms its breakpoint (break) owns it; one that listens
	// to those set before (events) does not.
	bp := &pb.Breakpoint{Id: 1, Address: 0xfffff80012345678, Symbol: "nt!NtWriteFile", Kind: pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE,
		SubscriptionOwned: len(req.GetBreakpoints()) > 0}
	for _, m := range []*pb.SubscribeResponse{
		{Event: &pb.SubscribeResponse_Subscribed{Subscribed: &pb.Subscribed{SubscriptionId: 3, Breakpoints: []*pb.Breakpoint{bp}}}},
		{Event: &pb.SubscribeResponse_Hit{Hit: &pb.BreakpointHit{Sequence: 1, BreakpointId: 1, Time: goldenTime, Cpu: 0, Pid: 420, Tid: 424,
			ProcessName: "writer.exe", Address: 0xfffff80012345678, Symbol: "nt!NtWriteFile",
			Registers: &pb.Registers{Registers: []*pb.Register{{Name: "rip", Value: 0xfffff80012345678}, {Name: "rcx", Value: 0x4}, {Name: "rsp", Value: 0xffffa00012340f00}}}}}},
		{Event: &pb.SubscribeResponse_VmEvent{VmEvent: &pb.VMEvent{Kind: pb.VMEvent_KIND_GONE, Reason: "domain destroyed"}}},
	} {
		if err := s.Send(m); err != nil {
			return err
		}
	}
	return nil
}

func (fakeBreakpoints) ListBreakpoints(context.Context, *pb.ListBreakpointsRequest) (*pb.ListBreakpointsResponse, error) {
	return &pb.ListBreakpointsResponse{Breakpoints: []*pb.Breakpoint{
		{Id: 1, Address: 0xfffff80012345678, Symbol: "nt!NtWriteFile", Kind: pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE, Hits: 12,
			Spec: &pb.BreakpointSpec{Filter: &pb.BreakpointFilter{ProcessNames: []string{"writer.exe"}}}},
		{Id: 4, Address: 0xfffff80012346000, Symbol: "nt!NtCreateFile", Kind: pb.BreakpointKind_BREAKPOINT_KIND_SOFTWARE, Hits: 3,
			VisibleToGuest: true, Spec: &pb.BreakpointSpec{Kind: pb.BreakpointKind_BREAKPOINT_KIND_SOFTWARE}},
	}}, nil
}

func (fakeBreakpoints) SetBreakpoint(_ context.Context, req *pb.SetBreakpointRequest) (*pb.SetBreakpointResponse, error) {
	// As under KVM: auto and hardware take a debug register; software
	// writes 0xCC, which the guest can see.
	b := &pb.Breakpoint{Id: 2, Address: 0xfffff80012345678, Symbol: "nt!NtWriteFile", Spec: req.GetSpec(),
		Kind: pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE}
	if req.GetSpec().GetKind() == pb.BreakpointKind_BREAKPOINT_KIND_SOFTWARE {
		b.Kind, b.VisibleToGuest = pb.BreakpointKind_BREAKPOINT_KIND_SOFTWARE, true
	}
	return &pb.SetBreakpointResponse{Breakpoint: b}, nil
}

func (fakeBreakpoints) ClearBreakpoint(context.Context, *pb.ClearBreakpointRequest) (*pb.ClearBreakpointResponse, error) {
	return &pb.ClearBreakpointResponse{}, nil
}

// fakeMonitors streams one NtWriteFile call, then ends.
type fakeMonitors struct {
	pb.UnimplementedMonitorServiceServer
}

func (fakeMonitors) MonitorNtWriteFile(_ *pb.MonitorNtWriteFileRequest, s grpc.ServerStreamingServer[pb.MonitorNtWriteFileResponse]) error {
	return s.Send(&pb.MonitorNtWriteFileResponse{Event: &pb.NtWriteFileEvent{Sequence: 1, Time: goldenTime, Pid: 420, Tid: 424,
		ProcessName: "writer.exe", Handle: 0x4, FileName: `\log.txt`, Buffer: 0x14fe80, Length: 6, Data: []byte("tick 1")}})
}

// startGoldenServer is startServer with the fakes above.
func startGoldenServer(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "frostd.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	reg := session.NewRegistry(nil, nil)
	ram := make([]byte, 0x4000)
	copy(ram[0x1000:], "MZ\x90\x00frost guest memory")
	addSession(t, reg, &session.Config{}, "win10", &fakeTarget{ram: ram, holeStart: 0x2000, holeEnd: 0x3000})
	hv := fakeHypervisor{domains: []libvirt.DomainInfo{
		{Name: "win10", UUID: "6f0b0bb6-1a2e-4c3f-9d1e-2a9f5d1c0e11", ID: 3, State: libvirt.StateRunning},
		{Name: "mini-nt", UUID: "0c7d4b9e-5f60-4a8b-b1c2-d3e4f5a6b7c8", ID: -1, State: libvirt.StateShutoff},
	}}
	o := overriding{ServiceRegistrar: srv, skip: map[string]bool{
		pb.ProcessService_ServiceDesc.ServiceName:    true,
		pb.CPUService_ServiceDesc.ServiceName:        true,
		pb.SymbolService_ServiceDesc.ServiceName:     true,
		pb.BreakpointService_ServiceDesc.ServiceName: true,
		pb.MonitorService_ServiceDesc.ServiceName:    true,
		// The API serves this binary's version; the golden needs a fixed one.
		pb.VersionService_ServiceDesc.ServiceName: true,
	}}
	api.Register(o, api.Config{Registry: reg, Hypervisor: hv})
	pb.RegisterProcessServiceServer(srv, fakeProcesses{})
	pb.RegisterCPUServiceServer(srv, fakeCPU{})
	pb.RegisterSymbolServiceServer(srv, goldenSymbols{})
	pb.RegisterBreakpointServiceServer(srv, fakeBreakpoints{})
	pb.RegisterMonitorServiceServer(srv, fakeMonitors{})
	pb.RegisterVersionServiceServer(srv, fixedVersion{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return path
}

// fixedVersion is a frostd of a known version, for a stable golden.
type fixedVersion struct {
	pb.UnimplementedVersionServiceServer
}

func (fixedVersion) GetVersion(context.Context, *pb.GetVersionRequest) (*pb.GetVersionResponse, error) {
	return &pb.GetVersionResponse{Version: "v0.9.0", Revision: "0123456789ab", GoVersion: "go1.26.8", ApiVersion: "frost.v1"}, nil
}
