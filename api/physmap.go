package api

import (
	"context"

	"google.golang.org/grpc/codes"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
)

// GetPhysicalMap lists guest RAM as the data plane sees it, so a dump
// asks StreamPhysical only for what it can serve. QEMU's map changes as
// the guest runs (a map read at reset lacks the BIOS shadow the firmware
// makes RAM later), so it is read afresh first; a map that cannot be
// re-read fails the call rather than list RAM as it was. A target that
// cannot say where RAM is answers Unimplemented rather than a guessed
// range (0 to the RAM size would walk into the PCI hole).
func (s *memoryService) GetPhysicalMap(ctx context.Context, req *pb.GetPhysicalMapRequest) (*pb.GetPhysicalMapResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	pm, ok := vm.Target.(vmi.PhysicalMapper)
	if !ok {
		return nil, apiError(codes.Unimplemented, pb.ErrorReason_ERROR_REASON_HYPERVISOR,
			"the target of "+vm.Name+" does not expose its guest-physical map", "vm", vm.Name)
	}
	if rr, ok := pm.(vmi.PhysicalMapRereader); ok {
		if err := rr.RereadPhysicalMap(ctx); err != nil {
			return nil, targetError(vm.Name, "re-reading the guest-physical map of", err)
		}
	}
	return &pb.GetPhysicalMapResponse{Ranges: physicalRanges(pm.PhysicalMap())}, nil
}

// physicalRanges lists ranges as [start, end), one entry per stretch of
// addresses: ranges that touch are one, as a client dumping them reads
// them in one go (the target keeps apart what is apart in its RAM block).
func physicalRanges(ranges []vmi.PhysicalRange) []*pb.PhysicalRange {
	out := make([]*pb.PhysicalRange, 0, len(ranges))
	for _, r := range ranges {
		if n := len(out); n > 0 && out[n-1].End == r.GPA && r.GPA != 0 {
			out[n-1].End = r.GPA + r.Size
			continue
		}
		out = append(out, &pb.PhysicalRange{Start: r.GPA, End: r.GPA + r.Size})
	}
	return out
}
