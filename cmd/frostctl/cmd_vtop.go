package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(
		command{name: "vtop", args: "(--pid N|--dtb X|--kernel) ADDR",
			short: "translate a virtual address, step by step (Rekall's vtop)",
			long: `Translates a virtual address in a process, an address space or the kernel,
showing each page-table entry on the way and, when the page is not in RAM,
Windows' software PTE state (paging file, prototype, transition, demand zero).`,
			example: "frostctl vtop --vm win10 --pid 420 7ff612340000\nfrostctl vtop --vm win10 --kernel 'fffff800`12345678'",
			minPos:  1, maxPos: 1, vm: true, setup: cmdVtop},
		command{name: "vadmap", args: "(--pid N|--dtb X|--kernel) START END",
			short:   "the state of every page in a range (Rekall's vadmap)",
			long:    "Shows the state of every page from START to END (END 0 is the top of the address space), runs of equal state merged.",
			example: "frostctl vadmap --vm win10 --pid 420 0x7ff612340000 0x7ff612360000",
			minPos:  2, maxPos: 2, vm: true, setup: cmdVadmap},
	)
}

func cmdVtop(c *cli, fs *pflag.FlagSet) runFunc {
	sp := addSpaceFlags(fs)
	return func(ctx context.Context, pos []string) error {
		va, err := parseAddr("ADDR", pos[0])
		if err != nil {
			return err
		}
		space, err := sp.space()
		if err != nil {
			return err
		}
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.TranslateResponse, error) {
			return pb.NewMemoryServiceClient(cc).Translate(ctx, &pb.TranslateRequest{Vm: c.vm, Space: space, Address: va})
		})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) { printProvenance(w, resp.GetProvenance()) })
	}
}

// printProvenance prints the server's rendering, which is translate's own
// (one format for the CLI and the Go API), and falls back to the steps.
func printProvenance(w io.Writer, p *pb.Provenance) {
	if p.GetText() != "" {
		fmt.Fprint(w, p.GetText())
		if !strings.HasSuffix(p.GetText(), "\n") {
			fmt.Fprintln(w)
		}
		return
	}
	fmt.Fprintf(w, "va %s dtb %#x\n", addr(p.GetVa()), p.GetDtb())
	for _, s := range p.GetSteps() {
		indent := strings.Repeat("  ", int(s.GetDepth()))
		level := strings.ToLower(strings.TrimPrefix(s.GetLevel().String(), "TRANSLATION_LEVEL_"))
		if s.GetNote() != "" {
			fmt.Fprintf(w, "%s%s: %s\n", indent, level, s.GetNote())
			continue
		}
		fmt.Fprintf(w, "%s%s@ %#x = %#x  %s %s\n", indent, level, s.GetAddress(), s.GetRaw(), s.GetKind(), s.GetFields())
	}
	fmt.Fprintf(w, "=> %s\n", location(p.GetLocation()))
	if p.GetError() != "" {
		fmt.Fprintf(w, "error: %s\n", p.GetError())
	}
}

func location(l *pb.Location) string {
	s := stateName(l.GetState())
	switch l.GetState() {
	case pb.PageState_PAGE_STATE_VALID, pb.PageState_PAGE_STATE_TRANSITION:
		s += fmt.Sprintf(" phys %#x", l.GetAddress())
	case pb.PageState_PAGE_STATE_PAGEFILE, pb.PageState_PAGE_STATE_COMPRESSED:
		s += fmt.Sprintf(" pagefile %d offset %#x", l.GetPagefile(), l.GetAddress())
	case pb.PageState_PAGE_STATE_FILE:
		s += fmt.Sprintf(" %s offset %#x", l.GetFileName(), l.GetAddress())
	}
	if l.GetProtectionName() != "" {
		s += " " + l.GetProtectionName()
	}
	return s
}

func cmdVadmap(c *cli, fs *pflag.FlagSet) runFunc {
	sp := addSpaceFlags(fs)
	return func(ctx context.Context, pos []string) error {
		start, err := parseAddr("START", pos[0])
		if err != nil {
			return err
		}
		end, err := parseAddr("END", pos[1])
		if err != nil {
			return err
		}
		space, err := sp.space()
		if err != nil {
			return err
		}
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.VadMapResponse, error) {
			return pb.NewMemoryServiceClient(cc).VadMap(ctx, &pb.VadMapRequest{Vm: c.vm, Space: space, Start: start, End: end})
		})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) {
			t := table(w)
			fmt.Fprintln(t, "Start\tEnd\tLocation\tError")
			for _, r := range resp.GetRuns() {
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", addr(r.GetStart()), endAddr(r.GetEnd()), location(r.GetLocation()), r.GetError())
			}
			t.Flush()
			if resp.GetModel() == pb.TranslationModel_TRANSLATION_MODEL_X86_64 {
				fmt.Fprintln(w, "no Windows kernel is known in this guest: pages were walked as the processor walks them (no VADs; a non-present entry reads as Not Mapped)")
			}
		})
	}
}
