package api

import (
	"context"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// GetPhysicalMap waits on vmi: the Target does not expose the guest-physical
// map its physmem reads through. It answers Unimplemented with
// ERROR_REASON_NOT_AVAILABLE_YET naming what it waits on.
func (s *memoryService) GetPhysicalMap(context.Context, *pb.GetPhysicalMapRequest) (*pb.GetPhysicalMapResponse, error) {
	return nil, notYet("GetPhysicalMap", "vmi: a Target that exposes its guest-physical map (physmem.Map)")
}
