package api

import (
	"context"

	"google.golang.org/grpc/codes"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// Read limits. A unary reply must fit gRPC's default 4 MiB message; larger
// reads are streamed in chunks that also stay under it.
const (
	maxUnaryRead     = 1 << 20
	defaultChunkSize = 1 << 20
	maxChunkSize     = 2 << 20
	// maxWrite bounds one write: writes go through the gdbstub, ~2 KiB per
	// packet with the guest stopped, so a large one would hold it long.
	maxWrite = 1 << 20
)

type memoryService struct {
	pb.UnimplementedMemoryServiceServer
	c *Config
}

func tooLarge(field string, limit uint64, hint string) error {
	return apiError(codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_LIMIT_EXCEEDED,
		field+" exceeds "+uitoa(limit)+" bytes"+hint,
		"field", field, "limit", uitoa(limit))
}

// checkRange accepts [address, address+length) up to the top of the
// address space: a range may end at 2^64 (address+length is then 0), but
// one that would go past it is refused, never wrapped to address 0.
func checkRange(address, length uint64) error {
	if length == 0 {
		return invalid("length", "must be positive")
	}
	// 0-address is 2^64-address, the room left above address (for
	// address 0 every length fits).
	if address != 0 && length > 0-address {
		return invalid("length", "address+length is past 2^64: 0x%x bytes at 0x%x would wrap to address 0", length, address)
	}
	return nil
}

func (s *memoryService) ReadPhysical(ctx context.Context, req *pb.ReadPhysicalRequest) (*pb.ReadPhysicalResponse, error) {
	vm, gone, err := s.c.getForRead(req.GetVm(), req.GetPostMortem())
	if err != nil {
		return nil, err
	}
	if err := checkRange(req.GetAddress(), req.GetLength()); err != nil {
		return nil, err
	}
	if req.GetLength() > maxUnaryRead {
		return nil, tooLarge("length", maxUnaryRead, "; use StreamPhysical")
	}
	buf := make([]byte, req.GetLength())
	pages, err := readPhysical(ctx, vm.Target, req.GetAddress(), buf)
	if err != nil {
		return nil, err
	}
	if err := servedAny(vm.Name, "ReadPhysical", pages); err != nil {
		return nil, err
	}
	return &pb.ReadPhysicalResponse{Data: buf, Pages: pages, PostMortem: gone}, nil
}

func chunkSize(req uint32) (int, error) {
	switch {
	case req == 0:
		return defaultChunkSize, nil
	case req > maxChunkSize:
		return 0, tooLarge("chunk_size", maxChunkSize, "")
	}
	return int(req), nil
}

func (s *memoryService) StreamPhysical(req *pb.StreamPhysicalRequest, stream pb.MemoryService_StreamPhysicalServer) error {
	vm, gone, err := s.c.getForRead(req.GetVm(), req.GetPostMortem())
	if err != nil {
		return err
	}
	if err := checkRange(req.GetAddress(), req.GetLength()); err != nil {
		return err
	}
	chunk, err := chunkSize(req.GetChunkSize())
	if err != nil {
		return err
	}
	ctx := stream.Context()
	release, err := s.c.admitStream(ctx, "StreamPhysical", chunk)
	if err != nil {
		return err
	}
	defer release()
	buf := make([]byte, chunk)
	served := false
	for done := uint64(0); done < req.GetLength(); {
		n := min(uint64(chunk), req.GetLength()-done)
		addr := req.GetAddress() + done
		pages, err := readPhysical(ctx, vm.Target, addr, buf[:n])
		if err != nil {
			return err
		}
		for _, p := range pages {
			served = served || p.Served
		}
		// The chunk's pieces are relative to its own data.
		if err := stream.Send(&pb.StreamPhysicalResponse{Address: addr, Data: buf[:n], Pages: pages, PostMortem: gone}); err != nil {
			return err
		}
		done += n
	}
	if !served {
		return servedAny(vm.Name, "StreamPhysical", nil)
	}
	return nil
}

func (s *memoryService) WritePhysical(ctx context.Context, req *pb.WritePhysicalRequest) (*pb.WritePhysicalResponse, error) {
	if !s.c.AllowWrite {
		return nil, writesDisabled("WritePhysical")
	}
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	if err := checkRange(req.GetAddress(), uint64(len(req.GetData()))); err != nil {
		return nil, err
	}
	if len(req.GetData()) > maxWrite {
		return nil, tooLarge("data", maxWrite, "")
	}
	if err := vm.WritePhysical(ctx, req.GetAddress(), req.GetData()); err != nil {
		return nil, targetError(vm.Name, "writing physical memory of", err)
	}
	return &pb.WritePhysicalResponse{}, nil
}
