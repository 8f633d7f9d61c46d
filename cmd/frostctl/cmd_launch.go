package main

import (
	"context"
	"fmt"
	"io"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(command{"launch", "NAME [--paging-file PATH]... [--load-options S] [--paused] [--seed N]", "define the bundled mini-NT guest under libvirt and start it (demo)", cmdLaunch})
}

func cmdLaunch(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("launch", false)
	var paging multi
	fs.Var(&paging, "paging-file", "a paging file the guest's registry asks for, e.g. 'C:\\pagefile.sys' (repeatable; quoted in a shell)")
	opts := fs.String("load-options", "", "the loader's LoadOptions, e.g. \"MININT INRAM\"")
	paused := fs.Bool("paused", false, "leave the vCPUs stopped (then boot or attach)")
	seed := fs.String("seed", "", "fix the KASLR seed")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	req := &pb.LaunchDemoGuestRequest{Name: pos[0], PagingFiles: paging, LoadOptions: *opts, Paused: *paused}
	if *seed != "" {
		v, err := parseUint("--seed", *seed)
		if err != nil {
			return err
		}
		req.Seed = &v
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewVMServiceClient(cc).LaunchDemoGuest(ctx, req)
	if err != nil {
		return err
	}
	return c.emit(resp, func(w io.Writer) {
		d := resp.GetDomain()
		fmt.Fprintf(w, "launched %s (%s): %s\n", d.GetName(), d.GetUuid(), domainState(d.GetState()))
	})
}
