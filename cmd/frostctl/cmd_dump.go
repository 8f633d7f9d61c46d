package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(command{"dump", "-o FILE [--format elf|raw]", "guest-physical memory to an ELF core or a raw file, with a progress bar", cmdDump})
}

func cmdDump(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("dump", true)
	out := fs.String("o", "", "output `file`")
	format := fs.String("format", "elf", "elf (a core file with one PT_LOAD per RAM range) or raw (file offset = guest-physical address, holes sparse)")
	quiet := fs.Bool("q", false, "no progress bar")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("name the output: -o FILE")
	}
	if *format != "elf" && *format != "raw" {
		return fmt.Errorf("--format %q: want elf or raw", *format)
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	mem := pb.NewMemoryServiceClient(cc)
	mctx, cancel := unaryCtx(ctx)
	defer cancel()
	m, err := mem.GetPhysicalMap(mctx, &pb.GetPhysicalMapRequest{Vm: c.vm})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var total uint64
	for _, r := range m.GetRanges() {
		total += r.GetEnd() - r.GetStart()
	}
	base := uint64(0)
	if *format == "elf" {
		if base, err = writeELFHeader(f, m.GetRanges()); err != nil {
			return err
		}
	}
	bar := newProgress(c.errOut, total)
	if *quiet {
		bar.w = io.Discard
	}
	unread := uint64(0)
	for _, r := range m.GetRanges() {
		n, err := dumpRange(ctx, mem, c.vm, r, f, base, *format == "elf", bar)
		unread += n
		if err != nil {
			return err
		}
		if *format == "elf" {
			base += r.GetEnd() - r.GetStart()
		}
	}
	bar.finish()
	if err := f.Close(); err != nil {
		return err
	}
	ranges := "ranges"
	if len(m.GetRanges()) == 1 {
		ranges = "range"
	}
	fmt.Fprintf(c.out, "%s: %d bytes of guest RAM in %d %s (%s)", *out, total, len(m.GetRanges()), ranges, *format)
	if unread > 0 {
		fmt.Fprintf(c.out, "; %d bytes could not be read and are zeros", unread)
	}
	fmt.Fprintln(c.out)
	return nil
}

// dumpRange streams one RAM range into f: at base+offset for ELF, at its
// guest-physical address for raw. It returns the bytes not served.
func dumpRange(ctx context.Context, mem pb.MemoryServiceClient, vm string, r *pb.PhysicalRange, f *os.File, base uint64, elf bool, bar *progress) (uint64, error) {
	stream, err := mem.StreamPhysical(ctx, &pb.StreamPhysicalRequest{Vm: vm, Address: r.GetStart(), Length: r.GetEnd() - r.GetStart()})
	if err != nil {
		return 0, err
	}
	var unread uint64
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return unread, nil
		}
		if err != nil {
			return unread, err
		}
		at := chunk.GetAddress()
		if elf {
			at = base + (chunk.GetAddress() - r.GetStart())
		}
		if _, err := f.WriteAt(chunk.GetData(), int64(at)); err != nil {
			return unread, err
		}
		for _, p := range chunk.GetPages() {
			if !p.GetServed() {
				unread += p.GetLength()
			}
		}
		bar.add(uint64(len(chunk.GetData())))
	}
}
