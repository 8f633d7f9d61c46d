package main

import (
	"context"
	"errors"
	"io"

	"github.com/frostvmi/frost/client"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// localMemory says whether c.vm's guest RAM is mapped locally (frostctl
// runs on frostd's host, frostd handed it over, --no-local not given).
func (c *cli) localMemory(ctx context.Context) bool {
	fc, err := c.frost()
	if err != nil {
		return false
	}
	return fc.LocalMemory(ctx, c.vm) == nil
}

// localPhysical reads [at, at+n) through the client, and reports ok only
// when every byte was served: a range with a hole or MMIO (a
// *PartialError), or any error, is left to frostd's ReadPhysical, whose
// reply says which pieces were not read and why, as frostctl prints them.
func localPhysical(ctx context.Context, fc *client.Client, vm string, at, n uint64) ([]byte, bool) {
	buf := make([]byte, n)
	if err := fc.ReadPhysical(ctx, vm, at, buf); err != nil {
		return nil, false
	}
	return buf, true
}

// localPhysicalStream is physicalStream through the client: chunks of
// maxUnaryRead bytes copied from the mapping. A chunk the client cannot
// serve whole (a hole, MMIO) is streamed by frostd instead, so its
// chunks carry frostd's page statuses, as without the mapping. Chunks
// read locally carry no pages: every byte was served, and frostctl
// prints nothing for served pages.
func localPhysicalStream(fc *client.Client, mem pb.MemoryServiceClient, vm string, at, n uint64) readStream {
	return readStream{at: at, n: n, open: func(ctx context.Context) (func() (readChunk, error), error) {
		next := at
		var remote func() (readChunk, error) // frostd's stream of one chunk
		var recv func() (readChunk, error)
		recv = func() (readChunk, error) {
			if remote != nil {
				ch, err := remote()
				if !errors.Is(err, io.EOF) {
					return ch, err
				}
				remote = nil
			}
			left := at + n - next
			if left == 0 {
				return nil, io.EOF
			}
			size := min(left, maxUnaryRead)
			if data, ok := localPhysical(ctx, fc, vm, next, size); ok {
				ch := &pb.StreamPhysicalResponse{Address: next, Data: data}
				next += size
				return ch, nil
			}
			r, err := physicalStream(mem, vm, next, size, false).open(ctx)
			if err != nil {
				return nil, err
			}
			remote = r
			next += size
			return recv()
		}
		return recv, nil
	}}
}
