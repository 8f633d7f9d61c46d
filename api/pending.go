package api

import (
	"context"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// The calls below wait on packages that are being built. Each answers
// Unimplemented with ERROR_REASON_NOT_AVAILABLE_YET naming the package, so
// a client can tell "not in this build" from a failure. Wiring one means
// moving it to its service's file and calling the package.
const (
	waitsNT          = "nt: the Windows kernel model (processes, DTBs, the kernel's symbols)"
	waitsBreakpoints = "breakpoints: the breakpoint manager"
	waitsWinboot     = "winboot: the boot-time policy"
	waitsMonitor     = "monitor: the NtWriteFile monitor"
)

type bootService struct {
	pb.UnimplementedBootServiceServer
	c *Config
}

func (s *bootService) Boot(*pb.BootRequest, pb.BootService_BootServer) error {
	return notYet("Boot", waitsWinboot)
}

type processService struct {
	pb.UnimplementedProcessServiceServer
	c *Config
}

func (s *processService) ListProcesses(context.Context, *pb.ListProcessesRequest) (*pb.ListProcessesResponse, error) {
	return nil, notYet("ListProcesses", waitsNT)
}

func (s *processService) ListThreads(context.Context, *pb.ListThreadsRequest) (*pb.ListThreadsResponse, error) {
	return nil, notYet("ListThreads", waitsNT)
}

func (s *processService) ListModules(context.Context, *pb.ListModulesRequest) (*pb.ListModulesResponse, error) {
	return nil, notYet("ListModules", waitsNT)
}

func (s *processService) ListVads(context.Context, *pb.ListVadsRequest) (*pb.ListVadsResponse, error) {
	return nil, notYet("ListVads", waitsNT)
}

func (s *processService) ListHandles(context.Context, *pb.ListHandlesRequest) (*pb.ListHandlesResponse, error) {
	return nil, notYet("ListHandles", waitsNT)
}

type breakpointService struct {
	pb.UnimplementedBreakpointServiceServer
	c *Config
}

func (s *breakpointService) SetBreakpoint(context.Context, *pb.SetBreakpointRequest) (*pb.SetBreakpointResponse, error) {
	return nil, notYet("SetBreakpoint", waitsBreakpoints)
}

func (s *breakpointService) ClearBreakpoint(context.Context, *pb.ClearBreakpointRequest) (*pb.ClearBreakpointResponse, error) {
	return nil, notYet("ClearBreakpoint", waitsBreakpoints)
}

func (s *breakpointService) ListBreakpoints(context.Context, *pb.ListBreakpointsRequest) (*pb.ListBreakpointsResponse, error) {
	return nil, notYet("ListBreakpoints", waitsBreakpoints)
}

func (s *breakpointService) Subscribe(*pb.SubscribeRequest, pb.BreakpointService_SubscribeServer) error {
	return notYet("Subscribe", waitsBreakpoints)
}

func (s *breakpointService) Ack(context.Context, *pb.AckRequest) (*pb.AckResponse, error) {
	return nil, notYet("Ack", waitsBreakpoints)
}

type monitorService struct {
	pb.UnimplementedMonitorServiceServer
	c *Config
}

func (s *monitorService) MonitorNtWriteFile(*pb.MonitorNtWriteFileRequest, pb.MonitorService_MonitorNtWriteFileServer) error {
	return notYet("MonitorNtWriteFile", waitsMonitor)
}

// Memory calls that translate virtual addresses need the kernel's symbols
// (the PTE layout) and, for a pid, its DTB: both come from nt.

func (s *memoryService) ReadVirtual(context.Context, *pb.ReadVirtualRequest) (*pb.ReadVirtualResponse, error) {
	return nil, notYet("ReadVirtual", waitsNT)
}

func (s *memoryService) StreamVirtual(*pb.StreamVirtualRequest, pb.MemoryService_StreamVirtualServer) error {
	return notYet("StreamVirtual", waitsNT)
}

func (s *memoryService) Translate(context.Context, *pb.TranslateRequest) (*pb.TranslateResponse, error) {
	return nil, notYet("Translate", waitsNT)
}

func (s *memoryService) VadMap(context.Context, *pb.VadMapRequest) (*pb.VadMapResponse, error) {
	return nil, notYet("VadMap", waitsNT)
}

func (s *memoryService) WriteVirtual(ctx context.Context, req *pb.WriteVirtualRequest) (*pb.WriteVirtualResponse, error) {
	if !s.c.AllowWrite {
		return nil, writesDisabled("WriteVirtual")
	}
	return nil, notYet("WriteVirtual", waitsNT)
}

func (s *memoryService) GetPhysicalMap(context.Context, *pb.GetPhysicalMapRequest) (*pb.GetPhysicalMapResponse, error) {
	return nil, notYet("GetPhysicalMap", "vmi: a Target that exposes its guest-physical map (physmem.Map)")
}
