package api

import (
	"context"

	"google.golang.org/grpc/codes"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
)

// GetPhysicalMap lists guest RAM as the data plane sees it, so a dump
// asks StreamPhysical only for what it can serve. A target that cannot
// say where RAM is answers Unimplemented rather than a guessed range
// (0 to the RAM size would walk into the PCI hole).
func (s *memoryService) GetPhysicalMap(_ context.Context, req *pb.GetPhysicalMapRequest) (*pb.GetPhysicalMapResponse, error) {
	vm, err := s.c.Registry.Get(req.GetVm())
	if err != nil {
		return nil, err
	}
	pm, ok := vm.Target.(vmi.PhysicalMapper)
	if !ok {
		return nil, apiError(codes.Unimplemented, pb.ErrorReason_ERROR_REASON_HYPERVISOR,
			"the target of "+vm.Name+" does not expose its guest-physical map", "vm", vm.Name)
	}
	ranges := pm.PhysicalMap()
	out := &pb.GetPhysicalMapResponse{Ranges: make([]*pb.PhysicalRange, 0, len(ranges))}
	for _, r := range ranges {
		out.Ranges = append(out.Ranges, &pb.PhysicalRange{Start: r.GPA, End: r.GPA + r.Size})
	}
	return out, nil
}
