package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// The define command: mini-NT as a libvirt domain, defined from
// minint.Domain's template and started, the job frostd's LaunchDemoGuest
// did before the product stopped linking the test guest.

type defineOptions struct {
	name        string
	guest       string
	kernel      string
	pagingFiles []string
	loadOptions string
	seed        string
	paused      bool
	noStart     bool
	libvirt     string
	timeout     time.Duration
}

// repeated is a flag that may be given more than once.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(s string) error { *r = append(*r, s); return nil }

// errDefineUsage means the command line was refused; the reason has been
// printed.
var errDefineUsage = errors.New("usage")

// parseDefineFlags reads `define`'s command line. The domain name may
// come before, between or after the flags.
func parseDefineFlags(args []string, stderr io.Writer) (defineOptions, error) {
	var o defineOptions
	var paging repeated
	fs := flag.NewFlagSet("minint define", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.guest, "guest", "integration/guest/out", "the guest build output `dir` (make guest fills it)")
	fs.StringVar(&o.kernel, "kernel", "", "another ntoskrnl.exe `file` to boot, e.g. integration/guest/out/assign/ntoskrnl.exe")
	fs.Var(&paging, "paging-file", "a paging file the guest's registry asks for, e.g. 'C:\\pagefile.sys' (repeatable, up to two; quoted in a shell)")
	fs.StringVar(&o.loadOptions, "load-options", "", `the loader block's LoadOptions, e.g. "MININT INRAM"`)
	fs.StringVar(&o.seed, "seed", "", "KASLR seed, decimal (default: the loader draws one from the TSC)")
	fs.BoolVar(&o.paused, "paused", false, "start it with the vCPUs stopped (then frostctl attach)")
	fs.BoolVar(&o.noStart, "no-start", false, "define it only, shut off (then frostctl boot, which starts it)")
	fs.StringVar(&o.libvirt, "libvirt", libvirt.DefaultURI, "libvirt `URI`, or the path of libvirtd's socket")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "give up on libvirtd after that long")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: minint define NAME [flags]

Defines mini-NT, Frost's bundled test guest, as the libvirt domain NAME and
starts it: the same machine as minint boots, with its C: image and serial
log in a private directory that outlives the command (remove it once the
domain is undefined; the command prints where it is). It refuses a NAME
libvirt already knows.

Examples:
  minint define frost-demo --paging-file 'C:\pagefile.sys' --paused
  minint define frost-demo --no-start && frostctl boot frost-demo --winboot

Flags:
`)
		fs.PrintDefaults()
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	bad := func(format string, a ...any) (defineOptions, error) {
		fmt.Fprintf(stderr, "minint define: "+format+"\n", a...)
		fs.Usage()
		return o, errDefineUsage
	}
	switch {
	case len(pos) != 1:
		return bad("want one domain name, got %d arguments", len(pos))
	case o.paused && o.noStart:
		return bad("--paused starts the domain and --no-start does not: give one")
	case o.timeout <= 0:
		return bad("--timeout %v: want a positive duration", o.timeout)
	}
	o.name, o.pagingFiles = pos[0], paging
	return o, nil
}

// config is the mini-NT boot the domain runs.
func (o defineOptions) config() (minint.Config, error) {
	// libvirtd resolves the kernel, modules and disk from its own working
	// directory, not ours.
	guest, err := filepath.Abs(o.guest)
	if err != nil {
		return minint.Config{}, err
	}
	cfg := minint.Config{GuestDir: guest, PagingFiles: o.pagingFiles, LoadOptions: o.loadOptions}
	if o.kernel != "" {
		if cfg.Kernel, err = filepath.Abs(o.kernel); err != nil {
			return cfg, err
		}
	}
	if o.seed != "" {
		s, err := strconv.ParseUint(o.seed, 10, 64)
		if err != nil {
			return cfg, fmt.Errorf("--seed %q: want a decimal 64-bit number", o.seed)
		}
		cfg.Seed = minint.Seed(s)
	}
	return cfg, nil
}

// define makes the domain's directory and XML, defines it and starts it
// unless told not to. A domain that could not be defined leaves nothing
// behind; one that could not start stays defined, and the error says so.
func define(ctx context.Context, o defineOptions, out io.Writer) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	conn, err := libvirt.Dial(ctx, o.libvirt)
	if err != nil {
		return err
	}
	defer conn.Close()
	// libvirt's define replaces the definition of a domain of that name:
	// never someone else's VM.
	if _, err := conn.LookupByName(ctx, o.name); err == nil {
		return fmt.Errorf("a domain named %s already exists; remove it (virsh undefine %s) or pick another name", o.name, o.name)
	} else if !errors.Is(err, libvirt.ErrNoDomain) {
		return err
	}
	spec, err := minint.NewDomain(o.name, cfg)
	if err != nil {
		return err
	}
	xml, err := spec.XML()
	var dom *libvirt.Domain
	if err == nil {
		dom, err = conn.Define(ctx, xml)
	}
	if err != nil {
		spec.Remove()
		return err
	}
	if !o.noStart {
		if err := dom.Start(ctx, o.paused); err != nil {
			return fmt.Errorf("%s is defined (directory %s) but did not start: %w", o.name, spec.Dir(), err)
		}
	}
	state, err := dom.State(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "defined %s (%s): %s\n", dom.Name(), dom.UUID(), state)
	fmt.Fprintf(out, "directory %s: the C: image and serial log; remove it once the domain is undefined\n", spec.Dir())
	return nil
}
