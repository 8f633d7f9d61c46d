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

func (s *memoryService) GetPhysicalMap(context.Context, *pb.GetPhysicalMapRequest) (*pb.GetPhysicalMapResponse, error) {
	return nil, notYet("GetPhysicalMap", "vmi: a Target that exposes its guest-physical map (physmem.Map)")
}
