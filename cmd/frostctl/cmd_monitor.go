package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(command{"monitor", "ntwritefile [--process NAME] [--pid N] [--file TEXT] [--max-bytes N] | network [--process NAME] [--pid N] [--filter EXPR] [--stack] [-w FILE.pcapng] [--count N] [--duration D]",
		"stream the guest's NtWriteFile calls with their bytes, or the frames its NDIS sends and receives", cmdMonitor})
	subcommands["monitor"] = []string{"ntwritefile", "network"}
}

func cmdMonitor(ctx context.Context, c *cli, args []string) error {
	// Each monitor has flags of its own: the first argument naming one
	// picks the flag set.
	for i, a := range args {
		if a == "network" {
			return cmdMonitorNetwork(ctx, c, append(append([]string{}, args[:i]...), args[i+1:]...))
		}
		if a == "ntwritefile" {
			break
		}
	}
	fs := c.flags("monitor", true)
	ff := addFilterFlags(fs)
	file := fs.String("file", "", "only writes to files whose name contains this `text`")
	maxBytes := fs.Uint("max-bytes", 0, "bytes of each buffer to capture (default 4096)")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if pos[0] != "ntwritefile" {
		return fmt.Errorf("unknown monitor %q: the monitors are: ntwritefile, network", pos[0])
	}
	f, err := ff.filter()
	if err != nil {
		return err
	}
	if len(f.GetTids()) > 0 {
		return errors.New("--tid does not apply to monitors")
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	stream, err := pb.NewMonitorServiceClient(cc).MonitorNtWriteFile(ctx, &pb.MonitorNtWriteFileRequest{
		Vm:       c.vm,
		Filter:   &pb.NtWriteFileFilter{Pids: f.GetPids(), ProcessNames: f.GetProcessNames(), FileNameContains: *file},
		MaxBytes: uint32(*maxBytes),
	})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return streamEnd(ctx, "the NtWriteFile monitor of "+c.vm, err, nil)
		}
		if err := c.emitLine(ev, func(w io.Writer) { printWrite(w, ev.GetEvent()) }); err != nil {
			return err
		}
	}
}

func printWrite(w io.Writer, e *pb.NtWriteFileEvent) {
	name := e.GetFileName()
	if name == "" {
		name = fmt.Sprintf("handle %#x", e.GetHandle())
	}
	fmt.Fprintf(w, "%s %s(%d) tid %d -> %s: %d bytes", e.GetTime().AsTime().Format("15:04:05.000"),
		e.GetProcessName(), e.GetPid(), e.GetTid(), name, e.GetLength())
	if e.GetTruncated() {
		fmt.Fprintf(w, " (first %d shown)", len(e.GetData()))
	}
	if e.GetDropped() > 0 {
		fmt.Fprintf(w, " (%d events missed)", e.GetDropped())
	}
	fmt.Fprintf(w, "\n  %s\n", strconv.Quote(string(e.GetData())))
	printUnserved(w, e.GetPages())
}
