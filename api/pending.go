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
	waitsWinboot = "winboot: the boot-time policy"
)

type bootService struct {
	pb.UnimplementedBootServiceServer
	c *Config
}

func (s *bootService) Boot(*pb.BootRequest, pb.BootService_BootServer) error {
	return notYet("Boot", waitsWinboot)
}

func (s *memoryService) GetPhysicalMap(context.Context, *pb.GetPhysicalMapRequest) (*pb.GetPhysicalMapResponse, error) {
	return nil, notYet("GetPhysicalMap", "vmi: a Target that exposes its guest-physical map (physmem.Map)")
}
