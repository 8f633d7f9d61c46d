package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/spf13/pflag"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(command{name: "boot", args: "NAME [--winboot] [--deadline D] | --status NAME [--follow]",
		short: "start a domain paused under Frost, optionally with winboot (no paging, WinPE in RAM); --status shows the latest boot",
		long: `Hands a libvirt domain's boot to frostd: it starts the domain paused,
attaches before the first instruction, and lets it run. With --winboot it
also keeps the guest from ever paging: no paging file is created and WinPE's
in-RAM mode is forced, so every page stays readable. The boot's steps stream
as they happen; frostd carries on if frostctl goes away, and
--status [--follow] shows the latest boot of NAME.`,
		example: "frostctl boot win10 --winboot\nfrostctl boot --status win10 --follow",
		minPos:  1, maxPos: 1, setup: cmdBoot, complete: completeVMArg})
}

func cmdBoot(c *cli, fs *pflag.FlagSet) runFunc {
	winboot := fs.Bool("winboot", false, "refuse paging files and force WinPE in-RAM mode")
	deadline := fs.Duration("deadline", 0, "how long winboot may wait for the kernel to appear, then for csrss.exe (default: frostd's, 10m and 30m); a guest that is not Windows fails the boot after it and runs on")
	status := fs.Bool("status", false, "show the latest boot of NAME (since frostd started) instead of booting")
	follow := fs.Bool("follow", false, "with --status: follow a boot in progress to its end")
	return func(ctx context.Context, pos []string) error {
		if *follow && !*status {
			return errors.New("--follow goes with --status (a boot is always followed)")
		}
		if *status && (*winboot || *deadline != 0) {
			return errors.New("--status shows a boot; --winboot and --deadline start one")
		}
		cc, err := c.client()
		if err != nil {
			return err
		}
		boots := pb.NewBootServiceClient(cc)
		var stream interface {
			Recv() (*pb.BootResponse, error)
		}
		if *status {
			stream, err = boots.WatchBoot(ctx, &pb.WatchBootRequest{Name: pos[0], Follow: *follow})
		} else {
			req := &pb.BootRequest{Name: pos[0], Winboot: *winboot}
			if *deadline > 0 {
				req.Deadline = durationpb.New(*deadline)
			}
			stream, err = boots.Boot(ctx, req)
		}
		if err != nil {
			return err
		}
		accepted := false
		var final *pb.BootStatus
		for {
			ev, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if accepted && ctx.Err() != nil {
					return fmt.Errorf("stopped watching; frostd carries on with the boot: `frostctl boot --status %s --follow` shows it", pos[0])
				}
				return err
			}
			if ev.GetProgress().GetPhase() == pb.BootPhase_BOOT_PHASE_ACCEPTED {
				accepted = true
			}
			if s := ev.GetStatus(); s != nil {
				final = s
			}
			if err := c.emitLine(ev, func(w io.Writer) { printBoot(w, ev) }); err != nil {
				return err
			}
		}
		switch {
		case final == nil && *follow:
			return fmt.Errorf("the boot stream of %s ended before its status (frostd stopped?)", pos[0])
		case final == nil && *status:
			if !c.json {
				fmt.Fprintf(c.out, "The boot of %s is still in progress (--follow to watch it end).\n", pos[0])
			}
		case final == nil:
			return fmt.Errorf("the boot stream of %s ended without a status (frostd stopped?)", pos[0])
		case !final.GetSuccess():
			return fmt.Errorf("boot of %s did not succeed: %s", pos[0], final.GetError())
		}
		return nil
	}
}

func printBoot(w io.Writer, ev *pb.BootResponse) {
	if p := ev.GetProgress(); p != nil {
		phase := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(p.GetPhase().String(), "BOOT_PHASE_"), "_", " "))
		if p.GetPhase() == pb.BootPhase_BOOT_PHASE_UNSPECIFIED {
			// Steps with no phase of their own (phase1-enter, reset, late)
			// lead their message with the stage, which says more.
			phase = "-"
		}
		fmt.Fprintf(w, "%s  %-22s %s\n", p.GetTime().AsTime().Format("15:04:05.000"), phase, p.GetMessage())
		return
	}
	s := ev.GetStatus()
	t := table(w)
	if s.GetName() != "" {
		fmt.Fprintf(t, "Domain:\t%s\n", s.GetName())
	}
	if s.GetStarted() != nil && s.GetFinished() != nil {
		fmt.Fprintf(t, "Ran:\t%s to %s (%s)\n", s.GetStarted().AsTime().Local().Format("15:04:05"),
			s.GetFinished().AsTime().Local().Format("15:04:05"), s.GetFinished().AsTime().Sub(s.GetStarted().AsTime()).Round(time.Millisecond))
	}
	fmt.Fprintf(t, "Success:\t%v\n", s.GetSuccess())
	for i, a := range s.GetActions() {
		label := ""
		if i == 0 {
			label = "Actions:"
		}
		fmt.Fprintf(t, "%s\t%s\n", label, a)
	}
	if s.GetWinboot() {
		fmt.Fprintf(t, "Late:\t%v\n", s.GetLate())
		refused := "none"
		if len(s.GetPagingFilesRefused()) > 0 {
			refused = strings.Join(s.GetPagingFilesRefused(), ", ")
		}
		fmt.Fprintf(t, "Paging files refused:\t%s\n", refused)
		fmt.Fprintf(t, "InitWinPEModeType:\t%s -> %s\n", optHex(s.WinpeModeBefore), optHex(s.WinpeModeAfter))
		var kinds []string
		for _, k := range s.GetBreakpointKinds() {
			kinds = append(kinds, strings.ToLower(strings.TrimPrefix(k.String(), "BREAKPOINT_KIND_")))
		}
		fmt.Fprintf(t, "Breakpoints used:\t%s\n", strings.Join(kinds, ", "))
	}
	if s.GetError() != "" {
		fmt.Fprintf(t, "Error:\t%s\n", s.GetError())
	}
	t.Flush()
}

func optHex(v *uint32) string {
	if v == nil {
		return "unknown"
	}
	return fmt.Sprintf("%#x", *v)
}
