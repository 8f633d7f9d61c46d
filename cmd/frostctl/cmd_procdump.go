package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/pflag"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(command{name: "procdump", args: "--pid N -o FILE.dmp|- [--live]",
		short: "a process as a Windows minidump (lldb -c, WinDbg): modules with PDB identities, threads with registers, all readable committed memory",
		long: `Writes a Windows minidump (MDMP) of one process, which lldb (lldb -c FILE.dmp)
and WinDbg open: its modules with their RSDS identities (so a debugger finds
their PDBs), its threads with their user-mode registers (a paused vCPU's, or
the trap frame of the thread's last system call), and every committed page of
its VADs that can be read. Pages read from a paging file or a mapped file are
listed with their source in the dump's comment and here; pages that cannot be
read are listed and left out of the dump, never written as zeros.

The guest is paused for the dump and left as it was found afterwards, however
the dump ends (--live keeps it running). A dump that fails leaves no file.`,
		example: "frostctl procdump --vm win10 --pid 420 -o writer.dmp\nlldb -c writer.dmp -o 'image list' -o 'thread list'",
		maxPos:  0, vm: true, setup: cmdProcdump})
}

func cmdProcdump(c *cli, fs *pflag.FlagSet) runFunc {
	pidFlag := newIDFlag(fs, "pid", "the process to dump, by pid (see ps)")
	out := fs.StringP("output", "o", "", "output `file` (a minidump, e.g. writer.dmp), or - for stdout")
	live := fs.Bool("live", false, "keep the guest running: pages may be from different moments, and registers come from trap frames only")
	quiet := fs.BoolP("quiet", "q", false, "no progress bar (it is drawn only when stderr is a terminal)")
	return func(ctx context.Context, _ []string) (err error) {
		pid, err := pidFlag.u32()
		if err != nil {
			return err
		}
		if pid == 0 {
			return errors.New("name the process: --pid N (frostctl ps lists them)")
		}
		if *out == "" {
			return errors.New("name the output: -o FILE.dmp, or -o - for stdout")
		}
		if *out == "-" && isTerminal(c.out) {
			return errors.New("-o - writes the dump to stdout, which is a terminal: redirect it to a file or a pipe")
		}
		cc, err := c.client()
		if err != nil {
			return err
		}
		// The call's end is frostd's signal to let the guest go: ^C cancels
		// ctx, and frostd resumes the guest when the stream ends.
		stream, err := pb.NewDumpServiceClient(cc).DumpProcess(ctx, &pb.DumpProcessRequest{Vm: c.vm, Pid: pid, Live: *live})
		if err != nil {
			return err
		}
		first, err := stream.Recv()
		if err != nil {
			return err
		}
		plan := first.GetPlan()
		if plan == nil {
			return errors.New("frostd's dump stream did not start with its plan")
		}
		fmt.Fprintf(c.errOut, "dumping %s (pid %d): %d modules, %d threads, %d pages (%.1f MiB) into %s\n",
			plan.GetProcessName(), plan.GetPid(), len(plan.GetModules()), len(plan.GetThreads()), plan.GetPages().GetWritten(),
			float64(plan.GetMemoryBytes())/(1<<20), *out)

		sink, err := openSink(*out, c.out)
		if err != nil {
			return err
		}
		bar := newProgress(c.errOut, plan.GetFileSize())
		if *quiet {
			bar.w = nil
		}
		trailer, err := recvDump(stream, sink, bar, plan.GetFileSize())
		if err == nil && ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		if err != nil {
			bar.end()
			if aerr := sink.abort(); aerr != nil {
				err = errors.Join(err, aerr)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w (no file written)", ctx.Err())
			}
			return err
		}
		if err := sink.commit(); err != nil {
			return err
		}
		bar.finish()
		if c.json {
			if err := c.emitLine(plan, nil); err != nil {
				return err
			}
			return c.emitLine(trailer, nil)
		}
		w := c.out
		if *out == "-" {
			w = c.errOut // stdout holds the dump
		}
		procdumpSummary(w, *out, plan, trailer)
		return nil
	}
}

// recvDump writes the stream's chunks to sink until the trailer, checking
// that they add up to the planned size.
func recvDump(stream pb.DumpService_DumpProcessClient, sink io.Writer, bar *progress, size uint64) (*pb.DumpTrailer, error) {
	var got uint64
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil, fmt.Errorf("the dump stream ended after %d of %d bytes without its trailer", got, size)
		}
		if err != nil {
			return nil, err
		}
		switch p := m.GetPart().(type) {
		case *pb.DumpProcessResponse_Chunk:
			if _, err := sink.Write(p.Chunk); err != nil {
				return nil, err
			}
			got += uint64(len(p.Chunk))
			bar.add(uint64(len(p.Chunk)))
		case *pb.DumpProcessResponse_Trailer:
			if got != size {
				return nil, fmt.Errorf("the dump holds %d bytes, its plan said %d", got, size)
			}
			return p.Trailer, nil
		}
	}
}

func procdumpSummary(w io.Writer, out string, plan *pb.DumpPlan, tr *pb.DumpTrailer) {
	pages := tr.GetPages()
	how := "the guest was paused for the dump and left as it was"
	if plan.GetLive() {
		how = "live: the guest ran during the dump (a smear)"
	}
	fmt.Fprintf(w, "%s: minidump of %s (pid %d), %.1f MiB; %s\n", out, plan.GetProcessName(), plan.GetPid(), float64(tr.GetBytesWritten())/(1<<20), how)
	fmt.Fprintf(w, "Pages: %d written (%.1f MiB): %d from RAM, %d demand-zero, %d from paging files, %d from mapped files; %d unreadable (left out); %d reserved\n",
		pages.GetWritten(), float64(pages.GetWritten())*4096/(1<<20), pages.GetRam(), pages.GetDemandZero(), pages.GetPagefile(), pages.GetFile(), pages.GetUnread(), pages.GetUncommitted())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nModule\tBase\tSize\tPDB\n")
	for _, m := range plan.GetModules() {
		pdb := "-"
		if id := m.GetPdb(); id != nil {
			pdb = fmt.Sprintf("%s %s %d", id.GetPdbName(), id.GetGuid(), id.GetAge())
		}
		fmt.Fprintf(tw, "%s\t%s\t%#x\t%s\n", m.GetName(), addr(m.GetBase()), m.GetSize(), pdb)
	}
	fmt.Fprintf(tw, "\nThread\tRIP\tRegisters from\tNote\n")
	for _, t := range plan.GetThreads() {
		src, rip := t.GetContextSource(), addr(t.GetRip())
		if src == "" {
			src, rip = "none", "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", t.GetTid(), rip, src, t.GetNote())
	}
	tw.Flush()
	if len(tr.GetSourced()) > 0 {
		fmt.Fprintln(w, "\nFrom paging files and mapped files:")
		for _, r := range tr.GetSourced() {
			fmt.Fprintf(w, "  %s-%s %s\n", addr(r.GetStart()), addr(r.GetEnd()), r.GetSource())
		}
	}
	if len(tr.GetUnread()) > 0 {
		fmt.Fprintln(w, "\nUnreadable pages (not in the dump):")
		for _, r := range tr.GetUnread() {
			fmt.Fprintf(w, "  %s-%s %s: %s\n", addr(r.GetStart()), addr(r.GetEnd()), r.GetState(), r.GetSource())
		}
	}
}
