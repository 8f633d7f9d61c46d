package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spf13/pflag"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(command{name: "dump", args: "-o FILE|- [--format elf|raw] [--live]",
		short: "guest-physical memory to an ELF core or a raw file: paused for a consistent image, or --live",
		long: `Writes the guest's physical memory to FILE: an ELF core as QEMU's
dump-guest-memory writes (CPU notes, one PT_LOAD per RAM range), or raw
(file offset = guest-physical address, holes sparse). The guest is paused for
a consistent image and resumed however the dump ends; --live keeps it
running, and the image says it is a smear.

--via says how the bytes reach the file: frostd writes it straight from
the guest's RAM when it may (frostd: the fastest, as its mapping is warm);
frostctl copies them from the read-only mapping of guest RAM that frostd
hands clients on its host (local: for a file frostd may not write, such
as one in another user's directory); or they stream over gRPC (stream:
what a remote frostctl gets). auto (the default) takes the first of these
that works; the file is the same whichever way it was written.`,
		example: "frostctl dump --vm win10 -o guest.elf\nfrostctl dump --vm win10 --format raw --live -o guest.raw\n" +
			"frostctl dump --vm win10 --via frostd -o guest.elf",
		maxPos: 0, vm: true, setup: cmdDump})
}

// resumeTimeout bounds the resume after a dump, which runs even when the
// dump was interrupted (its context is gone by then).
const resumeTimeout = 30 * time.Second

func cmdDump(c *cli, fs *pflag.FlagSet) runFunc {
	out := fs.StringP("output", "o", "", "output `file`, or - for stdout")
	format := fs.String("format", "elf", "elf (a core file as QEMU's dump-guest-memory writes: CPU notes, one PT_LOAD per RAM range) or raw (file offset = guest-physical address, holes sparse)")
	live := fs.Bool("live", false, "keep the guest running: the image is a smear (pages from different moments), and says so")
	via := fs.String("via", viaAuto, "how the bytes reach the file: auto (the first of frostd, local, stream that works), frostd (frostd writes the file straight from the guest's RAM), local (frostctl copies them from the mapping of guest RAM on frostd's host), stream (over gRPC, written by frostctl)")
	quiet := fs.BoolP("quiet", "q", false, "no progress bar (it is drawn only when stderr is a terminal)")
	return func(ctx context.Context, _ []string) (err error) {
		if *out == "" {
			return errors.New("name the output: -o FILE, or -o - for stdout")
		}
		if *format != "elf" && *format != "raw" {
			return fmt.Errorf("--format %q: want elf or raw", *format)
		}
		switch *via {
		case viaAuto, viaStream, viaLocal:
		case viaFile:
			if !c.canAskFrostd(*out) {
				return errors.New("--via frostd needs a file (not -o -) and frostd's unix socket (not tcp:)")
			}
		default:
			return fmt.Errorf("--via %q: want auto, local, frostd or stream", *via)
		}
		if *out == "-" && isTerminal(c.out) {
			return errors.New("-o - writes the dump to stdout, which is a terminal: redirect it to a file or a pipe")
		}
		cc, err := c.client()
		if err != nil {
			return err
		}
		cpu := pb.NewCPUServiceClient(cc)
		mem := pb.NewMemoryServiceClient(cc)
		info := dumpInfo{live: *live}

		if !*live {
			h, err := holdForDump(ctx, cpu, c.vm)
			if err != nil {
				return err
			}
			info.wasRunning = h.wasRunning
			// Whatever ends the dump (success, an error, ^C or SIGTERM, which
			// cancel ctx), the hold ends with it and frostd leaves the guest
			// as it was; if frostctl dies, frostd sees the call end and does
			// the same.
			defer func() { err = errors.Join(err, h.release(c.vm)) }()
		}

		mctx, cancel := unaryCtx(ctx)
		defer cancel()
		m, err := mem.GetPhysicalMap(mctx, &pb.GetPhysicalMapRequest{Vm: c.vm})
		if err != nil {
			return err
		}
		ranges := m.GetRanges()
		if err := checkRanges(ranges); err != nil {
			return err
		}
		var header []byte
		if *format == "elf" {
			notes := cpuStateNotes(ctx, cpu, c, &info)
			if header, err = coreHeaders(ranges, append(notes, info.note())); err != nil {
				return err
			}
		}

		sink, err := openSink(*out, c.out)
		if err != nil {
			return err
		}
		var total uint64
		for _, r := range ranges {
			total += r.GetEnd() - r.GetStart()
		}
		bar := newProgress(c.errOut, total)
		if *quiet {
			bar.w = nil
		}
		var unread uint64
		streamed := true
		if (*via == viaAuto || *via == viaFile) && c.canAskFrostd(*out) {
			var size uint64
			size, unread, err = dumpByFrostd(ctx, pb.NewDumpServiceClient(cc), c.vm, ranges, header, *live, sink, bar)
			var refused *errNotByFrostd
			switch {
			case err == nil:
				streamed = false
				sink.off = size
			case errors.As(err, &refused) && *via == viaAuto:
				// frostd may not write here (another uid's directory, an
				// older frostd): the file is untouched; copy from the
				// mapping, or stream, into it.
				err = nil
			case errors.As(err, &refused):
				err = fmt.Errorf("frostd will not write the file: %w", refused.err)
			}
		}
		if err == nil && streamed && (*via == viaLocal || *via == viaAuto) {
			// After frostd's own write: a fresh mapping in this process
			// pays a page fault per 4 KiB (docs/benchmarks.md), frostd's
			// is warm.
			reason := c.dumpLocalReason(ctx)
			switch {
			case reason == "":
				streamed = false
				unread, err = writeDumpLocal(ctx, c.fc, mem, c.vm, ranges, header, sink, bar)
			case *via == viaLocal:
				err = fmt.Errorf("--via local: guest RAM is not mapped here: %s", reason)
			}
		}
		if err == nil && streamed && *via != viaLocal {
			unread, err = writeDump(ctx, mem, c.vm, ranges, header, sink, bar)
		}
		if err == nil && ctx.Err() != nil {
			// ^C as the last bytes came in: the user asked to stop, and gets
			// no file rather than one made after they did.
			err = context.Cause(ctx)
		}
		if err != nil {
			bar.end()
			if aerr := sink.abort(); aerr != nil {
				err = errors.Join(err, aerr)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", ctx.Err())
			}
			return err
		}
		if err := sink.commit(); err != nil {
			return err
		}
		bar.finish()
		summary(c, *out, *format, total, len(ranges), unread, info)
		return nil
	}
}

// dumpHold is the dump's hold on the guest (CPUService.Hold): frostd
// stops the guest for as long as the call lasts and then leaves it as it
// was, resuming it only if it ran. The call is frostd's guarantee that a
// dump never leaves the guest frozen, even when frostctl is killed.
type dumpHold struct {
	stream     pb.CPUService_HoldClient
	cancel     context.CancelFunc
	wasRunning bool
}

// holdForDump starts the hold. Its call does not end with ctx: a ^C while
// the guest is being paused is answered by ending the hold properly.
func holdForDump(ctx context.Context, cpu pb.CPUServiceClient, vm string) (*dumpHold, error) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stream, err := cpu.Hold(hctx)
	if err == nil {
		err = stream.Send(&pb.HoldRequest{Vm: vm})
	}
	var first *pb.HoldResponse
	if err == nil {
		first, err = recvWithin(stream, timeout)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("pausing %s for a consistent dump (--live dumps it running, as a smear): %w", vm, err)
	}
	h := &dumpHold{stream: stream, cancel: cancel, wasRunning: first.GetWasRunning()}
	if ctx.Err() != nil {
		// Interrupted during the pause: let the guest go before giving up.
		return nil, errors.Join(fmt.Errorf("interrupted: %w", ctx.Err()), h.release(vm))
	}
	return h, nil
}

// release ends the hold and waits for frostd to confirm the guest is as
// it was found.
func (h *dumpHold) release(vm string) error {
	defer h.cancel()
	if err := h.stream.CloseSend(); err != nil {
		return fmt.Errorf("ending the hold on %s: %w (frostd lets the guest go when the call ends)", vm, err)
	}
	last, err := recvWithin(h.stream, resumeTimeout)
	switch {
	case err != nil:
		return fmt.Errorf("frostd did not confirm it let %s go after the dump: %w; `frostctl state --vm %s` shows where it stands", vm, err, vm)
	case !last.GetReleased():
		return fmt.Errorf("frostd could not leave %s as it was after the dump: %s; `frostctl resume --vm %s` runs it", vm, last.GetReleaseError(), vm)
	}
	return nil
}

// recvWithin is stream.Recv bounded by d.
func recvWithin(stream pb.CPUService_HoldClient, d time.Duration) (*pb.HoldResponse, error) {
	type result struct {
		r   *pb.HoldResponse
		err error
	}
	ch := make(chan result, 1)
	go func() {
		r, err := stream.Recv()
		ch <- result{r, err}
	}()
	select {
	case res := <-ch:
		return res.r, res.err
	case <-time.After(d):
		return nil, fmt.Errorf("no answer within %v", d)
	}
}

// cpuStateNotes reads every vCPU's registers for the core's notes. A
// live dump has none (the registers of a running guest cannot be read,
// and would belong to no one moment of the image); a failure leaves the
// notes out and says why, in the FROST note and on stderr.
func cpuStateNotes(ctx context.Context, cpu pb.CPUServiceClient, c *cli, info *dumpInfo) []elfNote {
	if info.live {
		info.noRegs = "live dump: the guest ran, its registers were not read"
		return nil
	}
	rctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := cpu.GetRegisters(rctx, &pb.GetRegistersRequest{Vm: c.vm, System: true})
	if err != nil {
		info.noRegs = "reading registers: " + describeError(err)
		fmt.Fprintf(c.errOut, "frostctl dump: the core will have no CPU notes: %s\n", info.noRegs)
		return nil
	}
	sys := map[uint32]*pb.SystemRegisters{}
	for _, s := range resp.GetSystem() {
		sys[s.GetCpu()] = s
	}
	var cpus []cpuState
	for _, r := range resp.GetCpus() {
		s := sys[r.GetCpu()]
		if s == nil && info.noSystem == "" {
			info.noSystem = resp.GetSystemError()
			if info.noSystem == "" {
				info.noSystem = fmt.Sprintf("frostd returned none for vCPU %d", r.GetCpu())
			}
		}
		cpus = append(cpus, newCPUState(r, s))
	}
	notes, known := cpuNotes(cpus)
	info.vcpus, info.known = len(cpus), known
	return notes
}

// checkRanges refuses a map the file layout cannot follow: ranges must be
// in address order and apart (a raw file puts each at its address; the
// ELF headers promise each one's bytes).
func checkRanges(ranges []*pb.PhysicalRange) error {
	var end uint64
	for i, r := range ranges {
		if r.GetEnd() < r.GetStart() || (i > 0 && r.GetStart() < end) {
			return fmt.Errorf("frostd's physical map is not ordered and disjoint at [%#x, %#x)", r.GetStart(), r.GetEnd())
		}
		end = r.GetEnd()
	}
	return nil
}

// writeDump writes the headers, then each range in order: an ELF core's
// ranges back to back, a raw file's at their guest-physical addresses. It
// returns the bytes frostd could not serve (zeros in the dump).
func writeDump(ctx context.Context, mem pb.MemoryServiceClient, vm string, ranges []*pb.PhysicalRange, header []byte, sink *dumpSink, bar *progress) (uint64, error) {
	raw := header == nil
	if _, err := sink.Write(header); err != nil {
		return 0, err
	}
	var unread uint64
	for _, r := range ranges {
		if raw {
			if err := sink.skip(r.GetStart() - sink.off); err != nil {
				return unread, err
			}
		}
		n, err := dumpRange(ctx, mem, vm, r, sink, bar)
		unread += n
		if err != nil {
			return unread, err
		}
	}
	return unread, nil
}

// dumpRange streams one RAM range into the sink in order. It returns the
// bytes not served.
func dumpRange(ctx context.Context, mem pb.MemoryServiceClient, vm string, r *pb.PhysicalRange, w io.Writer, bar *progress) (uint64, error) {
	stream, err := mem.StreamPhysical(ctx, &pb.StreamPhysicalRequest{Vm: vm, Address: r.GetStart(), Length: r.GetEnd() - r.GetStart()})
	if err != nil {
		return 0, err
	}
	var unread uint64
	next := r.GetStart()
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A range none of whose bytes could be read ends in
			// FailedPrecondition after its zero-filled chunks: the file
			// has its bytes (zeros), and unread counts them.
			if next == r.GetEnd() && status.Code(err) == codes.FailedPrecondition {
				break
			}
			return unread, err
		}
		if chunk.GetAddress() != next || uint64(len(chunk.GetData())) > r.GetEnd()-next {
			return unread, fmt.Errorf("frostd sent %d bytes at GPA %#x; the dump needs GPA %#x next, up to %#x", len(chunk.GetData()), chunk.GetAddress(), next, r.GetEnd())
		}
		if _, err := w.Write(chunk.GetData()); err != nil {
			return unread, err
		}
		next += uint64(len(chunk.GetData()))
		for _, p := range chunk.GetPages() {
			if !p.GetServed() {
				unread += p.GetLength()
			}
		}
		bar.add(uint64(len(chunk.GetData())))
	}
	if next != r.GetEnd() {
		return unread, fmt.Errorf("frostd's stream of [%#x, %#x) ended at %#x", r.GetStart(), r.GetEnd(), next)
	}
	return unread, nil
}

// summary says what was written: on stdout, or on stderr when stdout is
// the dump itself.
func summary(c *cli, out, format string, total uint64, n int, unread uint64, info dumpInfo) {
	w, name := c.out, out
	if out == "-" {
		w, name = c.errOut, "stdout"
	}
	ranges := "ranges"
	if n == 1 {
		ranges = "range"
	}
	fmt.Fprintf(w, "%s: %d bytes of guest RAM in %d %s (%s)", name, total, n, ranges, format)
	if unread > 0 {
		fmt.Fprintf(w, "; %d bytes could not be read and are zeros", unread)
	}
	fmt.Fprintln(w)
	switch {
	case info.live:
		fmt.Fprintln(w, "warning: a live dump of a running guest is a smear: its pages come from different moments, and page tables may not match the data they point at")
	case info.wasRunning:
		fmt.Fprintln(w, "consistent image: the guest was paused for the dump, and resumed after it")
	default:
		fmt.Fprintln(w, "consistent image: the guest was already stopped, and stays stopped")
	}
}
