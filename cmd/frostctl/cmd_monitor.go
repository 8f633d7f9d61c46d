package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/pflag"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(command{name: "monitor", args: "ntwritefile|network [flags]",
		short: "stream the guest's NtWriteFile calls with their bytes, or the frames its NDIS sends and receives",
		long: `Monitors stream what the guest does, from breakpoints Frost sets and
removes itself: ntwritefile, every NtWriteFile call with the bytes written;
network, every frame the guest's NDIS sends or receives, optionally into a
pcapng file.`,
		example: "frostctl monitor ntwritefile --vm win10 --process writer.exe\n" +
			"frostctl monitor network --vm win10 --filter 'udp and port 53' -w capture.pcapng",
		subs: []command{
			{name: "ntwritefile", args: "[--process NAME] [--pid N] [--file TEXT] [--max-bytes N]",
				short: "stream the guest's NtWriteFile calls with their bytes",
				long: `Streams every NtWriteFile call in the guest, until ^C: the process, thread,
file name and the bytes written (the first --max-bytes of each).`,
				example: "frostctl monitor ntwritefile --vm win10 --process writer.exe --file log",
				maxPos:  0, vm: true, setup: cmdMonitorNtWriteFile},
			{name: "network", args: "[--process NAME] [--pid N] [--filter EXPR] [--stack] [-w FILE.pcapng] [--count N] [--duration D]",
				short: "stream the frames the guest's NDIS sends and receives",
				long: `Streams the frames the guest sends and receives, seen at NDIS from outside
the guest, with the process and thread that sent them; -w also writes a
pcapng file Wireshark and tshark read, each packet's comment naming them.`,
				example: "frostctl monitor network --vm win10 --filter 'udp and port 53' -w capture.pcapng\n" +
					"frostctl monitor network --vm win10 --process writer.exe --count 10",
				maxPos: 0, vm: true, setup: cmdMonitorNetwork},
		}})
}

func cmdMonitorNtWriteFile(c *cli, fs *pflag.FlagSet) runFunc {
	ff := addFilterFlags(fs)
	file := fs.String("file", "", "only writes to files whose name contains this `text`")
	maxBytes := fs.Uint32("max-bytes", 0, "bytes of each buffer to capture (default 4096)")
	return func(ctx context.Context, _ []string) error {
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
			MaxBytes: *maxBytes,
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
