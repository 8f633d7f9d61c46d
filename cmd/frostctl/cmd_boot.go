package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(command{"boot", "NAME [--winboot] [--deadline D]", "start a domain paused under Frost, optionally with winboot (no paging, WinPE in RAM)", cmdBoot})
}

func cmdBoot(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("boot", false)
	winboot := fs.Bool("winboot", false, "refuse paging files and force WinPE in-RAM mode")
	deadline := fs.Duration("deadline", 0, "how long winboot may wait for csrss.exe (default: frostd's)")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	req := &pb.BootRequest{Name: pos[0], Winboot: *winboot}
	if *deadline > 0 {
		req.Deadline = durationpb.New(*deadline)
	}
	stream, err := pb.NewBootServiceClient(cc).Boot(ctx, req)
	if err != nil {
		return err
	}
	var final *pb.BootStatus
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if s := ev.GetStatus(); s != nil {
			final = s
		}
		if err := c.emitLine(ev, func(w io.Writer) { printBoot(w, ev) }); err != nil {
			return err
		}
	}
	if final != nil && !final.GetSuccess() {
		return fmt.Errorf("boot of %s did not succeed: %s", pos[0], final.GetError())
	}
	return nil
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
	fmt.Fprintf(t, "Success:\t%v\n", s.GetSuccess())
	fmt.Fprintf(t, "Late:\t%v\n", s.GetLate())
	for i, a := range s.GetActions() {
		label := ""
		if i == 0 {
			label = "Actions:"
		}
		fmt.Fprintf(t, "%s\t%s\n", label, a)
	}
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
