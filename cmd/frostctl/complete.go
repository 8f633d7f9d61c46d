package main

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// completeTimeout bounds every call a shell's tab makes: completion must
// never hang a prompt, and offers nothing when frostd is slow or absent.
const completeTimeout = 2 * time.Second

// completeLimit is how many symbols a tab offers at most.
const completeLimit = 200

// completeVMs offers the domains libvirt knows (for --vm).
func (c *cli) completeVMs(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return c.vmNames(toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeVMArg offers domain names for a command's first argument
// (attach NAME, boot NAME).
func completeVMArg(c *cli, _ *cobra.Command, args []string, toComplete string) []string {
	if len(args) > 0 {
		return nil
	}
	return c.vmNames(toComplete)
}

func (c *cli) vmNames(prefix string) []string {
	cc, err := c.client()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), completeTimeout)
	defer cancel()
	resp, err := pb.NewVMServiceClient(cc).ListDomains(ctx, &pb.ListDomainsRequest{})
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range resp.GetDomains() {
		if strings.HasPrefix(d.GetName(), prefix) {
			out = append(out, d.GetName())
		}
	}
	sort.Strings(out)
	return out
}

// completeSymbolArg offers module!symbol names of the VM (--vm, and
// --pid's DLLs), or of the PDB (--pdb), that begin with what is typed.
func completeSymbolArg(c *cli, cmd *cobra.Command, args []string, toComplete string) []string {
	if len(args) > 0 {
		return nil
	}
	req := &pb.CompleteSymbolRequest{Prefix: toComplete, Limit: completeLimit}
	pdbSpec, _ := cmd.Flags().GetString("pdb")
	scope, err := symbolScope(c.vm, pdbSpec)
	if err != nil {
		return nil
	}
	req.Scope = scope
	req.Pid = firstPID(cmd)
	cc, err := c.client()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), completeTimeout)
	defer cancel()
	resp, err := pb.NewSymbolServiceClient(cc).CompleteSymbol(ctx, req)
	if err != nil {
		return nil
	}
	return resp.GetNames()
}

// firstPID is the process whose DLLs complete too: symbols' --pid, or the
// first of break's repeatable --pid filter; 0 for none (or one that does
// not parse: completion is a hint, the command itself will say).
func firstPID(cmd *cobra.Command) uint32 {
	f := cmd.Flags().Lookup("pid")
	if f == nil {
		return 0
	}
	var s string
	switch v := f.Value.(type) {
	case *idFlag:
		if !v.set {
			return 0
		}
		s = v.String()
	case *multi:
		if len(*v) == 0 {
			return 0
		}
		s = (*v)[0]
	default:
		return 0
	}
	n, err := parseUint("--pid", s)
	if err != nil {
		return 0
	}
	pid, err := idU32("--pid", n)
	if err != nil {
		return 0
	}
	return pid
}
