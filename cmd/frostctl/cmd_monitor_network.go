package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// cmdMonitorNetwork streams the guest's frames: one line each, and with
// -w a pcapng file Wireshark and tshark read, each packet's comment naming
// the process, pid, thread and direction.
func cmdMonitorNetwork(c *cli, fs *pflag.FlagSet) runFunc {
	var procs, pids multi
	fs.Var(&procs, "process", "only frames of calls made by the process with this image `name` (repeatable)")
	fs.Var(&pids, "pid", "only frames of calls made by this process `id` (repeatable)")
	expr := fs.String("filter", "", "only frames matching this `expression`: arp, ip, ip6, icmp, icmp6, udp, tcp, dns, [src|dst] host ADDR, [src|dst] port N, and, or, not, ( )")
	stack := fs.Bool("stack", false, "print the calling thread's stack under each frame")
	file := fs.StringP("write", "w", "", "also write the frames to this pcapng `file` (Wireshark, tshark)")
	count := fs.Uint64("count", 0, "stop after this many frames (0: until ^C)")
	dur := fs.Duration("duration", 0, "stop after this `duration` (0: until ^C)")
	return func(ctx context.Context, pos []string) error {
		req := &pb.MonitorNetworkRequest{Vm: c.vm, Processes: procs, Filter: *expr, Stack: *stack, IncludeFrames: *file != "" || c.json}
		for _, s := range pids {
			v, err := parseUint("--pid", s)
			if err != nil {
				return err
			}
			p, err := idU32("--pid", v)
			if err != nil {
				return err
			}
			req.Pids = append(req.Pids, p)
		}
		var pcap *pcapngFile
		if *file != "" {
			f, err := os.OpenFile(*file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			if pcap, err = newPcapng(f, "guest "+c.vm+" NDIS (frost monitor network)", *expr); err != nil {
				return err
			}
		}
		cc, err := c.client()
		if err != nil {
			return err
		}
		if *dur > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *dur)
			defer cancel()
		}
		ctx, stop := context.WithCancel(ctx)
		defer stop()
		stream, err := pb.NewMonitorServiceClient(cc).MonitorNetwork(ctx, req)
		if err != nil {
			return err
		}
		var frames, unreadable uint64
		var last *pb.NetworkCounters
		defer func() { printNetworkEnd(c.errOut, *file, pcap, frames, unreadable, last) }()
		for {
			m, err := stream.Recv()
			if err != nil {
				return streamEnd(ctx, "the network monitor of "+c.vm, err, nil)
			}
			if c.json {
				if err := c.emitLine(m, nil); err != nil {
					return err
				}
			}
			switch ev := m.GetEvent().(type) {
			case *pb.MonitorNetworkResponse_Started:
				printNetworkStarted(c.errOut, ev.Started)
			case *pb.MonitorNetworkResponse_Counters:
				last = ev.Counters
				if l := ev.Counters.GetLost(); l > 0 && !c.json {
					fmt.Fprintf(c.errOut, "frostctl: %d frames lost so far (frostd's queue for this stream was full)\n", l)
				}
			case *pb.MonitorNetworkResponse_Frame:
				f := ev.Frame
				frames++
				if f.GetUnreadable() != "" {
					unreadable++
				}
				if !c.json {
					printFrame(c.out, f)
				}
				if pcap != nil && f.GetUnreadable() == "" {
					if len(f.GetData()) != int(f.GetLength()) {
						return fmt.Errorf("frame %d: frostd sent %d bytes of %d", f.GetSequence(), len(f.GetData()), f.GetLength())
					}
					if err := pcap.write(f.GetTime().AsTime(), f.GetData(), f.GetDirection() == pb.FrameDirection_FRAME_DIRECTION_SEND, frameComment(f)); err != nil {
						return err
					}
				}
				if *count > 0 && frames >= *count {
					stop()
					return nil
				}
			}
		}
	}
}

func dirName(d pb.FrameDirection) string {
	switch d {
	case pb.FrameDirection_FRAME_DIRECTION_SEND:
		return "out"
	case pb.FrameDirection_FRAME_DIRECTION_RECEIVE:
		return "in"
	}
	return "?"
}

// frameComment is the pcapng comment of a frame: who made the call.
func frameComment(f *pb.NetworkFrame) string {
	s := fmt.Sprintf("dir=%s pid=%d process=%s tid=%d", dirName(f.GetDirection()), f.GetPid(), f.GetProcessName(), f.GetTid())
	if f.GetAttributionError() != "" {
		s = fmt.Sprintf("dir=%s process=unknown (%s)", dirName(f.GetDirection()), f.GetAttributionError())
	}
	return s + fmt.Sprintf(" interface=%#x seq=%d", f.GetInterface(), f.GetSequence())
}

func printFrame(w io.Writer, f *pb.NetworkFrame) {
	who := fmt.Sprintf("%s(%d) tid %d", f.GetProcessName(), f.GetPid(), f.GetTid())
	if f.GetAttributionError() != "" {
		who = "?(" + f.GetAttributionError() + ")"
	}
	fmt.Fprintf(w, "%s %-3s %s %d bytes: %s\n", f.GetTime().AsTime().Format("15:04:05.000000"), dirName(f.GetDirection()), who, f.GetLength(), f.GetSummary())
	if st := f.GetStack(); st != nil {
		for _, fr := range st.GetFrames() {
			fmt.Fprintf(w, "    %02d %#016x %s\n", fr.GetIndex(), fr.GetRip(), fr.GetSymbol())
		}
		if st.GetError() != "" {
			fmt.Fprintf(w, "    (%s)\n", st.GetError())
		}
	}
}

func printNetworkStarted(w io.Writer, s *pb.NetworkStarted) {
	var fns []string
	for _, b := range s.GetBreakpoints() {
		fns = append(fns, fmt.Sprintf("%s at %#x (%s)", b.GetFunction(), b.GetAddress(), dirName(b.GetDirection())))
	}
	fmt.Fprintf(w, "frostctl: monitoring %s; frames read through %s\n", strings.Join(fns, " and "), s.GetLayout())
}

// printNetworkEnd is the summary on stderr: what this client got and
// frostd's last counters (lost frames among them).
func printNetworkEnd(w io.Writer, file string, pcap *pcapngFile, frames, unreadable uint64, c *pb.NetworkCounters) {
	fmt.Fprintf(w, "frostctl: %d frames (%d unreadable)", frames, unreadable)
	if pcap != nil {
		fmt.Fprintf(w, ", %d written to %s", pcap.n, file)
	}
	fmt.Fprintln(w)
	if c == nil {
		return
	}
	fmt.Fprintf(w, "frostctl: frostd counted %d calls, %d frames (%d bytes), %d filtered out, %d lost, %d unreadable, %d chain errors\n",
		c.GetCalls(), c.GetFrames(), c.GetBytes(), c.GetFiltered(), c.GetLost(), c.GetUnreadable(), c.GetChainErrors())
	reasons := make([]string, 0, len(c.GetUnreadableReasons()))
	for r := range c.GetUnreadableReasons() {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "frostctl:   unreadable %d: %s\n", c.GetUnreadableReasons()[r], r)
	}
	if c.GetLastError() != "" {
		fmt.Fprintf(w, "frostctl:   last chain error: %s\n", c.GetLastError())
	}
}
