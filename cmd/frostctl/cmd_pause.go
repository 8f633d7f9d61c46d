package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

const pauseHelp = `Stops every vCPU of the guest under a lease: the guest stays stopped
for the lease (--lease, 30s unless given, 10m at most), and then frostd
resumes it on its own unless the lease is renewed first. So a pause that
nobody renews lapses, and the guest runs again; a frostctl (or script)
that dies cannot leave a guest stopped for longer than one lease.
resume ends every lease at once. A guest that was already stopped (at a
breakpoint, say) is left stopped when the lease lapses, as it was found.

pause prints the lease's id and when it lapses. --renew ID renews that
lease for another --lease from now (frostctl pause --renew ID, before it
lapses; a lapsed lease cannot be renewed: the guest may have run since).
--keep stays in the foreground, renews the lease every third of it, and
resumes the guest when interrupted (^C, SIGTERM) or when its standard
input ends: use it for a pause that lasts as long as a shell session or a
script that holds frostctl's stdin open.

--json prints the PauseResponse (with --keep: the first and each
renewal's, one per line).`

// leaseClock is the time a lease's end is counted from; tests fix it.
var leaseClock = time.Now

func cmdPause(c *cli, fs *pflag.FlagSet) runFunc {
	lease := fs.Duration("lease", 0, "how long the pause lasts unless renewed (`duration`; default 30s, at most 10m)")
	keep := fs.Bool("keep", false, "stay in the foreground renewing the lease; resume on ^C, SIGTERM or end of stdin")
	renew := fs.String("renew", "", "renew the lease with this `id` (from an earlier pause) instead of pausing")
	return func(ctx context.Context, pos []string) error {
		switch {
		case *lease < 0:
			return fmt.Errorf("--lease %s: a lease lasts a positive time", *lease)
		case *keep && *renew != "":
			return errors.New("--keep pauses and renews its own lease; --renew renews one another pause took: name one")
		}
		req := &pb.PauseRequest{Vm: c.vm, LeaseId: *renew}
		if *lease > 0 {
			req.Lease = durationpb.New(*lease)
		}
		cc, err := c.client()
		if err != nil {
			return err
		}
		cpu := pb.NewCPUServiceClient(cc)
		uctx, cancel := unaryCtx(ctx)
		resp, err := cpu.Pause(uctx, req)
		cancel()
		if err != nil {
			if *renew != "" {
				return fmt.Errorf("renewing lease %s: %w", *renew, err)
			}
			return err
		}
		if *keep {
			in := c.in
			if in == nil {
				in = os.Stdin
			}
			return c.keepPaused(ctx, cpu, resp, in)
		}
		return c.emit(resp, func(w io.Writer) { printPause(w, c.vm, resp, *renew != "") })
	}
}

// printPause shows a pause (or a renewal) and its lease.
func printPause(w io.Writer, vm string, resp *pb.PauseResponse, renewal bool) {
	if !renewal {
		printStop(w, resp.GetStop())
	}
	id := resp.GetLeaseId()
	if id == "" {
		// A frostd from before leases: the pause lasts until resume.
		return
	}
	d := resp.GetLease().AsDuration()
	what := "paused under lease"
	if renewal {
		what = "renewed lease"
	}
	fmt.Fprintf(w, "%s %s: lapses in %s (at %s); frostd then resumes %s unless renewed (frostctl pause --vm %s --renew %s)\n",
		what, id, d, leaseClock().Add(d).Format("15:04:05"), vm, vm, id)
}

// keepPaused renews the lease of the pause in first every third of the
// lease until ctx ends (^C, SIGTERM) or in reaches its end, then resumes
// the guest. A renewal that fails (the lease lapsed, or someone resumed
// the guest) ends it with that error: the guest may have run.
func (c *cli) keepPaused(ctx context.Context, cpu pb.CPUServiceClient, first *pb.PauseResponse, in io.Reader) error {
	if err := c.emitLine(first, func(w io.Writer) {
		printPause(w, c.vm, first, false)
		fmt.Fprintln(w, "renewing until ^C or end of input, then resuming")
	}); err != nil {
		return err
	}
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, in)
		close(eof)
	}()
	id, lease := first.GetLeaseId(), first.GetLease().AsDuration()
	var tick <-chan time.Time
	if id != "" && lease > 0 {
		// A third of the lease leaves two more tries before it lapses.
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			uctx, cancel := unaryCtx(ctx)
			resp, err := cpu.Pause(uctx, &pb.PauseRequest{Vm: c.vm, LeaseId: id, Lease: first.GetLease()})
			cancel()
			if ctx.Err() != nil {
				return c.resumeKept(cpu)
			}
			if err != nil {
				return fmt.Errorf("renewing lease %s: %w (frostd may have resumed the guest)", id, err)
			}
			if c.json {
				if err := c.emitLine(resp, nil); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			return c.resumeKept(cpu)
		case <-eof:
			return c.resumeKept(cpu)
		}
	}
}

// resumeKept resumes the guest pause --keep held; the command's own
// context may be cancelled (^C) by now, so it gets its own.
func (c *cli) resumeKept(cpu pb.CPUServiceClient) error {
	ctx, cancel := unaryCtx(context.Background())
	defer cancel()
	if _, err := cpu.Resume(ctx, &pb.ResumeRequest{Vm: c.vm}); err != nil {
		return fmt.Errorf("resuming %s: %w", c.vm, err)
	}
	if !c.json {
		fmt.Fprintf(c.out, "%s running\n", c.vm)
	}
	return nil
}
