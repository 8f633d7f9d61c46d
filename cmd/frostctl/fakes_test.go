package main

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/frostvmi/frost/api"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/libvirt"
	"github.com/frostvmi/frost/vmi/physmem"
)

// The CLI's tests run against an in-process frostd: package api's real
// handlers where their backends can be faked below the API (libvirt, a
// vmi.Target), and fake services where the backend is a package still
// being built (the formatting is what these tests check).

type fakeHypervisor struct{ domains []libvirt.DomainInfo }

func (f fakeHypervisor) Domains(context.Context) ([]libvirt.DomainInfo, error) { return f.domains, nil }

// fakeTarget serves guest RAM from a byte slice with a hole at
// [holeStart, holeEnd), the way physmem reports MMIO.
type fakeTarget struct {
	ram                []byte
	holeStart, holeEnd uint64
}

func (f *fakeTarget) Name() string                                     { return "fake" }
func (f *fakeTarget) Pause(context.Context) (*vmi.Stop, error)         { return &vmi.Stop{Signal: 2}, nil }
func (f *fakeTarget) Resume(context.Context) error                     { return nil }
func (f *fakeTarget) Running() (bool, *vmi.Stop)                       { return true, nil }
func (f *fakeTarget) Step(context.Context, vmi.CPU) (*vmi.Stop, error) { return nil, errFake }
func (f *fakeTarget) StepOver(context.Context, vmi.CPU, ...vmi.Breakpoint) (*vmi.Stop, error) {
	return nil, errFake
}
func (f *fakeTarget) CPUs(context.Context) ([]vmi.CPU, error) {
	return []vmi.CPU{{Pid: 1, Tid: 1}}, nil
}
func (f *fakeTarget) Registers(context.Context, vmi.CPU) (*vmi.Registers, error) {
	return nil, errFake
}
func (f *fakeTarget) SetRegisters(context.Context, vmi.CPU, *vmi.Registers) error { return errFake }
func (f *fakeTarget) ReadPhysical(_ context.Context, gpa uint64, p []byte) error {
	end := gpa + uint64(len(p))
	if gpa < f.holeEnd && end > f.holeStart {
		return &physmem.NotRAMError{GPA: max(gpa, f.holeStart), What: `i/o region "fake-mmio"`}
	}
	if end > uint64(len(f.ram)) {
		return &physmem.NotRAMError{GPA: max(gpa, uint64(len(f.ram))), What: "past the end of RAM"}
	}
	copy(p, f.ram[gpa:end])
	return nil
}

// PhysicalMap is RAM around the hole, as physmem would list it.
func (f *fakeTarget) PhysicalMap() []physmem.Range {
	return []physmem.Range{
		{GPA: 0, Size: f.holeStart},
		{GPA: f.holeEnd, Size: uint64(len(f.ram)) - f.holeEnd, Offset: f.holeEnd},
	}
}
func (f *fakeTarget) WritePhysical(context.Context, uint64, []byte) error    { return errFake }
func (f *fakeTarget) InsertBreakpoint(context.Context, vmi.Breakpoint) error { return errFake }
func (f *fakeTarget) RemoveBreakpoint(context.Context, vmi.Breakpoint) error { return errFake }
func (f *fakeTarget) Capabilities() vmi.Capabilities                         { return vmi.Capabilities{} }
func (f *fakeTarget) Events() <-chan vmi.Event                               { return nil }
func (f *fakeTarget) Close(context.Context) error                            { return nil }

type fakeErr string

func (e fakeErr) Error() string { return string(e) }

const errFake = fakeErr("not faked")

// fakeProcesses answers with a fixed process, thread and module list.
type fakeProcesses struct {
	pb.UnimplementedProcessServiceServer
}

func (fakeProcesses) ListProcesses(context.Context, *pb.ListProcessesRequest) (*pb.ListProcessesResponse, error) {
	return &pb.ListProcessesResponse{Processes: []*pb.Process{
		{Pid: 4, Name: "System", Dtb: 0x1aa000, Eprocess: 0xffffd3017a26e040, ThreadCount: 3,
			CreateTime: timestamppb.New(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC))},
		{Pid: 312, ParentPid: 4, Name: "csrss.exe", Dtb: 0x6e3c000, Eprocess: 0xffffd3017c1d4080, ThreadCount: 1,
			CreateTime: timestamppb.New(time.Date(2026, 12, 6, 9, 0, 2, 0, time.UTC)), CommandLine: `\SystemRoot\System32\csrss.exe`},
		{Pid: 420, ParentPid: 4, Name: "writer.exe", Dtb: 0x7f11000, Eprocess: 0xffffd3017c2e6080, ThreadCount: 1,
			CreateTime: timestamppb.New(time.Date(2026, 12, 6, 9, 0, 3, 0, time.UTC)), CommandLine: `C:\writer.exe --period 250`},
		{Pid: 508, ParentPid: 4, Name: "smss.exe", Dtb: 0x7a20000, Eprocess: 0xffffd3017c3f2080,
			CreateTime: timestamppb.New(time.Date(2026, 12, 6, 9, 0, 1, 0, time.UTC)), Exited: true,
			ExitTime: timestamppb.New(time.Date(2026, 12, 6, 9, 0, 4, 0, time.UTC))},
	}}, nil
}

func (fakeProcesses) ListThreads(context.Context, *pb.ListThreadsRequest) (*pb.ListThreadsResponse, error) {
	return &pb.ListThreadsResponse{Threads: []*pb.Thread{
		{Tid: 8, Pid: 4, State: "Waiting", StartSymbol: "nt!Phase1Initialization", Ethread: 0xffffd3017a2a1080},
		{Tid: 424, Pid: 420, State: "Running", StartAddress: 0x140001000, Ethread: 0xffffd3017c2e8080},
	}, Truncated: true}, nil
}

// fakeCPU answers GetRegisters with a small register file.
type fakeCPU struct {
	pb.UnimplementedCPUServiceServer
}

func (fakeCPU) GetRegisters(context.Context, *pb.GetRegistersRequest) (*pb.GetRegistersResponse, error) {
	regs := &pb.Registers{Cpu: 0}
	for i, n := range []string{"rax", "rbx", "rcx", "rdx", "rip", "cr3"} {
		regs.Registers = append(regs.Registers, &pb.Register{Name: n, Value: uint64(i) * 0x1111})
	}
	regs.Registers = append(regs.Registers, &pb.Register{Name: "xmm0", Raw: make([]byte, 16)})
	return &pb.GetRegistersResponse{Cpus: []*pb.Registers{regs}}, nil
}

// overriding registers api's services except those the test replaces.
type overriding struct {
	grpc.ServiceRegistrar
	skip map[string]bool
}

func (o overriding) RegisterService(d *grpc.ServiceDesc, impl any) {
	if !o.skip[d.ServiceName] {
		o.ServiceRegistrar.RegisterService(d, impl)
	}
}

// startServer serves on a unix socket and returns its path.
func startServer(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "frostd.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	reg := session.NewRegistry(nil, nil)
	ram := make([]byte, 0x4000)
	for i := range ram {
		ram[i] = byte(i)
	}
	copy(ram[0x1000:], "MZ\x90\x00frost guest memory")
	addSession(t, reg, &session.Config{}, "win10", &fakeTarget{ram: ram, holeStart: 0x2000, holeEnd: 0x3000})
	hv := fakeHypervisor{domains: []libvirt.DomainInfo{
		{Name: "win10", UUID: "6f0b0bb6-1a2e-4c3f-9d1e-2a9f5d1c0e11", ID: 3, State: libvirt.StateRunning},
		{Name: "mini-nt", UUID: "0c7d4b9e-5f60-4a8b-b1c2-d3e4f5a6b7c8", ID: -1, State: libvirt.StateShutoff},
	}}
	o := overriding{ServiceRegistrar: srv, skip: map[string]bool{
		pb.ProcessService_ServiceDesc.ServiceName: true,
		pb.CPUService_ServiceDesc.ServiceName:     true,
	}}
	api.Register(o, api.Config{Registry: reg, Hypervisor: hv})
	pb.RegisterProcessServiceServer(srv, fakeProcesses{})
	pb.RegisterCPUServiceServer(srv, fakeCPU{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return path
}

// addSession attaches tg to reg as frostd's Attach does: a session (and
// its breakpoint manager) per VM.
func addSession(t *testing.T, reg *session.Registry, cfg *session.Config, name string, tg vmi.Target) *session.Session {
	t.Helper()
	s, err := session.New(cfg, name, "", tg)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Manager().Close(context.Background()) })
	return s
}
