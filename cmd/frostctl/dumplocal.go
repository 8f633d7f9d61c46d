package main

import (
	"context"
	"fmt"

	"github.com/frostvmi/frost/client"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// viaLocal: frostctl copies the bytes from the read-only mapping of guest
// RAM frostd hands a client on its host (the client package), or the
// dump fails.
const viaLocal = "local"

// localDumpChunk is the bytes copied from the mapping per write: large
// enough that the write calls cost little, small enough to stay in cache.
const localDumpChunk = 4 << 20

// dumpLocalReason says why a dump cannot be written from the mapping, or
// "" when it can.
func (c *cli) dumpLocalReason(ctx context.Context) string {
	fc, err := c.frost()
	if err != nil {
		return err.Error()
	}
	if err := fc.LocalMemory(ctx, c.vm); err != nil {
		return err.Error()
	}
	return ""
}

// writeDumpLocal is writeDump with the bytes copied from the mapping. A
// piece the client cannot serve whole (not RAM after all, the mapping
// gone) is streamed from frostd as writeDump does, which counts what it
// could not read; so the file is the same either way.
func writeDumpLocal(ctx context.Context, fc *client.Client, mem pb.MemoryServiceClient, vm string, ranges []*pb.PhysicalRange, header []byte, sink *dumpSink, bar *progress) (uint64, error) {
	raw := header == nil
	if _, err := sink.Write(header); err != nil {
		return 0, err
	}
	buf := make([]byte, localDumpChunk)
	var unread uint64
	for _, r := range ranges {
		if raw {
			if err := sink.skip(r.GetStart() - sink.off); err != nil {
				return unread, err
			}
		}
		for at := r.GetStart(); at < r.GetEnd(); {
			if ctx.Err() != nil {
				return unread, context.Cause(ctx)
			}
			p := buf[:min(uint64(len(buf)), r.GetEnd()-at)]
			if err := fc.ReadPhysical(ctx, vm, at, p); err != nil {
				n, err := dumpRange(ctx, mem, vm, &pb.PhysicalRange{Start: at, End: at + uint64(len(p))}, sink, bar)
				unread += n
				if err != nil {
					return unread, fmt.Errorf("GPA %#x (not served from the mapping): %w", at, err)
				}
			} else {
				if _, err := sink.Write(p); err != nil {
					return unread, err
				}
				bar.add(uint64(len(p)))
			}
			at += uint64(len(p))
		}
	}
	return unread, nil
}
