package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(command{name: "moddump", args: "(--pid N | --kernel) (--module NAME | --base ADDR) -o FILE [--allow-partial]",
		short: "a loaded module (DLL, EXE or driver) from memory as a PE file, sections laid out for the file again",
		long: `Writes a module loaded in the guest as a PE file, rebuilt from memory: each
section is read from where the loader mapped it and laid out for the file
again (PointerToRawData and SizeOfRawData rewritten, ImageBase set to where it
is loaded, since the bytes are relocated there; checksum recomputed), so
llvm-readobj, objdump, IDA or Ghidra open it. Pages that cannot be read are
zeros in the file: they are listed, and the command exits non-zero unless
--allow-partial.`,
		example: "frostctl moddump --vm win10 --pid 420 --module frostrt.dll -o frostrt.dll\nfrostctl moddump --vm win10 --pid 420 --base 0x7ff612340000 -o writer.exe\nfrostctl moddump --vm win10 --kernel --module hal.dll -o hal.dll",
		maxPos:  0, vm: true, setup: cmdModdump})
}

// errPartial makes the command exit non-zero after it wrote a module
// with unreadable (zeroed) pages, which it has listed.
var errPartial = errors.New("some pages of the module could not be read and are zeros in the file (listed above); --allow-partial accepts that")

func cmdModdump(c *cli, fs *pflag.FlagSet) runFunc {
	pidFlag := newIDFlag(fs, "pid", "the process whose module to dump (see ps, and modules --pid N)")
	kernel := fs.Bool("kernel", false, "a kernel module (ntoskrnl.exe, hal.dll, a driver: see modules)")
	name := fs.String("module", "", "the module's `name` (frostrt.dll; case-insensitive) or full path")
	baseArg := fs.String("base", "", "the module's base `address` (hex), instead of --module")
	out := fs.StringP("output", "o", "", "output `file`, or - for stdout")
	partial := fs.Bool("allow-partial", false, "exit 0 even when pages could not be read (they are zeros in the file, and listed)")
	return func(ctx context.Context, pos []string) error {
		req := &pb.DumpModuleRequest{Vm: c.vm}
		pid, err := pidFlag.u32()
		if err != nil {
			return err
		}
		switch {
		case *kernel && pid != 0:
			return errors.New("--pid and --kernel: name one")
		case *kernel:
			req.Scope = &pb.DumpModuleRequest_Kernel{Kernel: true}
		case pid != 0:
			req.Scope = &pb.DumpModuleRequest_Pid{Pid: pid}
		default:
			return errors.New("whose module: --pid N, or --kernel")
		}
		switch {
		case *name != "" && *baseArg != "":
			return errors.New("--module and --base: name one")
		case *name != "":
			req.Module = &pb.DumpModuleRequest_Name{Name: *name}
		case *baseArg != "":
			b, err := parseAddr("--base", *baseArg)
			if err != nil {
				return err
			}
			req.Module = &pb.DumpModuleRequest_Base{Base: b}
		default:
			return errors.New("which module: --module NAME, or --base ADDR")
		}
		if *out == "" {
			return errors.New("name the output: -o FILE, or -o - for stdout")
		}
		if *out == "-" && isTerminal(c.out) {
			return errors.New("-o - writes the module to stdout, which is a terminal: redirect it to a file or a pipe")
		}
		cc, err := c.client()
		if err != nil {
			return err
		}
		stream, err := pb.NewDumpServiceClient(cc).DumpModule(ctx, req)
		if err != nil {
			return err
		}
		first, err := stream.Recv()
		if err != nil {
			return err
		}
		h := first.GetHeader()
		if h == nil {
			return errors.New("frostd's module stream did not start with its header")
		}
		sink, err := openSink(*out, c.out)
		if err != nil {
			return err
		}
		tr, err := recvModule(stream, sink, h.GetFileSize())
		if err == nil && ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		if err != nil {
			if aerr := sink.abort(); aerr != nil {
				err = errors.Join(err, aerr)
			}
			return err
		}
		if err := sink.commit(); err != nil {
			return err
		}
		if c.json {
			if err := c.emitLine(h, nil); err != nil {
				return err
			}
			if err := c.emitLine(tr, nil); err != nil {
				return err
			}
		} else {
			w := c.out
			if *out == "-" {
				w = c.errOut
			}
			moddumpSummary(w, *out, h, tr)
		}
		if len(tr.GetUnreadablePages()) > 0 && !*partial {
			if c.json {
				for _, p := range tr.GetUnreadablePages() {
					fmt.Fprintf(c.errOut, "unreadable page %s (zeros in the file)\n", addr(p))
				}
			}
			return errPartial
		}
		return nil
	}
}

func recvModule(stream pb.DumpService_DumpModuleClient, sink io.Writer, size uint64) (*pb.DumpModuleTrailer, error) {
	var got uint64
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil, fmt.Errorf("the module stream ended after %d of %d bytes without its trailer", got, size)
		}
		if err != nil {
			return nil, err
		}
		switch p := m.GetPart().(type) {
		case *pb.DumpModuleResponse_Chunk:
			if _, err := sink.Write(p.Chunk); err != nil {
				return nil, err
			}
			got += uint64(len(p.Chunk))
		case *pb.DumpModuleResponse_Trailer:
			if got != size {
				return nil, fmt.Errorf("the module file holds %d bytes, its header said %d", got, size)
			}
			return p.Trailer, nil
		}
	}
}

func moddumpSummary(w io.Writer, out string, h *pb.DumpModuleHeader, tr *pb.DumpModuleTrailer) {
	fmt.Fprintf(w, "%s: %s at %s (SizeOfImage %#x) as a PE file of %d bytes; sections %v\n",
		out, h.GetName(), addr(h.GetBase()), h.GetSize(), tr.GetBytesWritten(), h.GetSections())
	if id := h.GetPdb(); id != nil {
		fmt.Fprintf(w, "PDB: %s %s %d\n", id.GetPdbName(), id.GetGuid(), id.GetAge())
	}
	if h.GetPreferredBase() != h.GetBase() {
		fmt.Fprintf(w, "Relocated: preferred base %s; the file's ImageBase is the load address, as its bytes are\n", addr(h.GetPreferredBase()))
	}
	if pages := tr.GetUnreadablePages(); len(pages) > 0 {
		fmt.Fprintf(w, "%d unreadable page(s), zeros in the file:\n", len(pages))
		for _, p := range pages {
			fmt.Fprintf(w, "  %s\n", addr(p))
		}
	}
}
