package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/frostvmi/frost/integration/guest/disk"
	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/qemu"
)

// The boot command: mini-NT under a QEMU minint launches itself, its
// report streamed from COM1, then \frost\log.txt read from its C: image.

type options struct {
	guest        string
	kernel       string
	seed         string
	pagingFiles  string
	loadOptions  string
	writerPeriod int
	writes       int
	accel        string
	timeout      time.Duration
}

func parseFlags(args []string) options {
	var o options
	fs := flag.NewFlagSet("minint", flag.ExitOnError)
	fs.StringVar(&o.guest, "guest", "integration/guest/out", "the guest build output `dir` (make guest fills it)")
	fs.StringVar(&o.kernel, "kernel", "", "another ntoskrnl.exe `file` to boot, e.g. integration/guest/out/assign/ntoskrnl.exe")
	fs.StringVar(&o.seed, "seed", "", "KASLR seed, decimal (default: the loader draws one from the TSC)")
	fs.StringVar(&o.pagingFiles, "pagingfiles", `C:\pagefile.sys`, "the registry's PagingFiles: up to two comma-separated volume paths, or \"\" for none")
	fs.StringVar(&o.loadOptions, "loadoptions", "", `the loader block's LoadOptions, e.g. "MININT INRAM"`)
	fs.IntVar(&o.writerPeriod, "writerperiod", 500, "writer.exe's period between writes, in ms (0: no pause)")
	fs.IntVar(&o.writes, "writes", 3, "stop after ready and this many writer.exe writes")
	fs.StringVar(&o.accel, "accel", qemu.AccelTCG, "QEMU accelerator: tcg or kvm (kvm is very slow on emulated KVM)")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up if the guest has not got that far by then")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: minint [flags]
       minint define NAME [flags]   (see minint define -help)

Boots mini-NT, Frost's bundled Windows-like test guest, under QEMU, streams
its frost-guest boot report from the serial port (kernel base, PDB identity,
WinPE mode, paging files, processes, writer.exe's writes), then prints
\frost\log.txt from the guest's C: disk and removes everything it made.

minint define instead defines it as a libvirt domain, for frostd to attach
to or boot.

Examples:
  minint
  minint -seed 7 -loadoptions "MININT INRAM"
  minint -pagingfiles 'C:\pagefile.sys,C:\pagefile2.sys' -writes 5
  minint define frost-demo --paging-file 'C:\pagefile.sys' --paused

Flags:
`)
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "minint: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		os.Exit(2)
	}
	return o
}

func (o options) config() (minint.Config, error) {
	cfg := minint.Config{
		GuestDir:    o.guest,
		Kernel:      o.kernel,
		LoadOptions: o.loadOptions,
		Accel:       o.accel,
	}
	if o.seed != "" {
		s, err := strconv.ParseUint(o.seed, 10, 64)
		if err != nil {
			return cfg, fmt.Errorf("-seed %q: want a decimal 64-bit number", o.seed)
		}
		cfg.Seed = minint.Seed(s)
	}
	if o.pagingFiles != "" {
		cfg.PagingFiles = strings.Split(o.pagingFiles, ",")
	}
	switch {
	case o.writerPeriod < 0:
		return cfg, fmt.Errorf("-writerperiod %d: want 0 or more", o.writerPeriod)
	case o.writerPeriod == 0:
		cfg.WriterPeriodMS = minint.WriterTightLoop
	default:
		cfg.WriterPeriodMS = o.writerPeriod
	}
	if o.writes < 0 {
		return cfg, fmt.Errorf("-writes %d: want 0 or more", o.writes)
	}
	return cfg, nil
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	cmdline, err := cfg.LoaderCmdline()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	m, err := minint.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if serr := m.Stop(); err == nil {
			err = serr
		}
	}()
	accel := strings.ToUpper(m.Config().Accel)
	fmt.Fprintf(out, "== mini-NT under QEMU/%s [%s]: its frost-guest report from COM1 ==\n", accel, cmdline)

	if err := streamReport(ctx, m, o.writes, out); err != nil {
		return err
	}
	return printLog(ctx, m, out)
}

// streamReport prints report lines as the guest prints them, until ready
// and then the given number of writes.
func streamReport(ctx context.Context, m *minint.Machine, writes int, out io.Writer) error {
	ready, seen := false, 0
	// The settling pass lists every paged-out page; a count says as much.
	pagedOut := 0
	// The matcher sees every serial line once, in order, so it doubles as
	// the printer.
	_, err := m.WaitSerial(ctx, func(line string) bool {
		e, ok, perr := minint.ParseLine(line)
		if !ok {
			return false
		}
		if perr == nil && e.Name == "pagedout" {
			pagedOut++
			return false
		}
		if pagedOut > 0 {
			fmt.Fprintf(out, "frost-guest: ... %d pagedout lines (one per page in a paging file) ...\n", pagedOut)
			pagedOut = 0
		}
		fmt.Fprintln(out, line)
		if perr != nil {
			return false
		}
		switch {
		case e.Name == "ready":
			ready = true
		case e.Name == "write" && ready:
			seen++
		}
		return ready && seen >= writes
	})
	var bc *minint.BugcheckError
	if errors.As(err, &bc) {
		fmt.Fprintln(out, bc.Line)
	}
	return err
}

// printLog stops the guest and prints what writer.exe left on C:.
func printLog(ctx context.Context, m *minint.Machine, out io.Writer) error {
	// Pausing first makes QEMU finish the guest's disk writes.
	if err := m.Pause(ctx); err != nil {
		return err
	}
	if err := m.Kill(); err != nil {
		return err
	}
	vol, err := disk.Open(m.DiskPath())
	if err != nil {
		return err
	}
	defer vol.Close()
	log, err := vol.ReadFile(disk.LogName)
	if err != nil {
		return fmt.Errorf("reading %s from the C: image: %w", disk.LogName, err)
	}
	fmt.Fprintf(out, "== C:%s on the guest's disk image (%d bytes) ==\n", disk.LogName, len(log))
	_, err = out.Write(log)
	return err
}
