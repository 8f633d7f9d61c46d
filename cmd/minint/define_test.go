package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/integration/guesttest"
	"github.com/frostvmi/frost/vmi/libvirt"
)

func TestDefineFlags(t *testing.T) {
	o, err := parseDefineFlags([]string{"--paging-file", `C:\pagefile.sys`, "demo", "--paging-file", `C:\pagefile2.sys`,
		"--load-options", "MININT INRAM", "--seed", "7", "--paused"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.name != "demo" || len(o.pagingFiles) != 2 || !o.paused || o.noStart || o.libvirt != libvirt.DefaultURI {
		t.Errorf("options = %+v", o)
	}
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(cfg.GuestDir) || filepath.Base(cfg.GuestDir) != "out" {
		t.Errorf("GuestDir %q: want the default made absolute, for libvirtd", cfg.GuestDir)
	}
	line, err := cfg.LoaderCmdline()
	if err != nil || line != `seed=7 pagingfiles=C:\pagefile.sys,C:\pagefile2.sys loadoptions="MININT INRAM"` {
		t.Errorf("cmdline = %q, %v", line, err)
	}
}

func TestDefineFlagsReject(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"a", "b"},
		{"a", "--paused", "--no-start"},
		{"a", "--timeout", "0s"},
		{"a", "--nope"},
	} {
		var stderr bytes.Buffer
		if _, err := parseDefineFlags(args, &stderr); err == nil || !strings.Contains(stderr.String(), "Usage: minint define") {
			t.Errorf("%q: error %v, stderr %q; want a refusal with the usage", args, err, stderr.String())
		}
	}
	if _, err := parseDefineFlags([]string{"-help"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v", err)
	}
	if _, err := (defineOptions{name: "a", guest: "out", seed: "x"}).config(); err == nil || !strings.Contains(err.Error(), "--seed") {
		t.Errorf("bad seed: %v", err)
	}
}

// TestDefineUnderLibvirt defines mini-NT under the real libvirtd and starts
// it paused (no guest instruction runs), as `make demo` does, then checks
// what libvirt holds and removes it. A second define of the same name is
// refused rather than replacing the domain.
func TestDefineUnderLibvirt(t *testing.T) {
	guest := guesttest.Dir(t)
	guesttest.RequireTools(t, "libvirtd", "virtlogd", "virsh")
	if os.Geteuid() != 0 {
		guesttest.Unavailable(t, "setting up libvirtd needs root")
	}
	if out, err := exec.Command(filepath.Join("..", "..", "scripts", "setup-libvirt.sh")).CombinedOutput(); err != nil {
		t.Fatalf("setup-libvirt.sh: %v\n%s", err, out)
	}
	ctx := guesttest.Context(t)
	// Test domains (frost-test-*) are removed as stale by any test that
	// holds the TCG lock, so this one holds it too.
	lock, err := minint.LockTCG(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Unlock() })

	name := "frost-test-minint-define"
	conn, err := libvirt.Dial(ctx, libvirt.DefaultURI)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() }) // after the domain's cleanup below
	if d, err := conn.LookupByName(ctx, name); err == nil {
		t.Logf("removing %s, left by a crashed run", name)
		d.Destroy(ctx) // fails when it is shut off already
		if err := d.Undefine(ctx); err != nil {
			t.Fatalf("removing %s: %v", name, err)
		}
	}

	var out bytes.Buffer
	o := defineOptions{name: name, guest: guest, pagingFiles: []string{`C:\pagefile.sys`}, paused: true, libvirt: libvirt.DefaultURI, timeout: guesttest.Deadline}
	err = define(ctx, o, &out)
	t.Logf("minint define:\n%s", out.String())
	dir := regexp.MustCompile(`(?m)^directory (\S+):`).FindStringSubmatch(out.String())
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		if d, err := conn.LookupByName(ctx, name); err == nil {
			if st, _ := d.State(ctx); st != libvirt.StateShutoff {
				if err := d.Destroy(ctx); err != nil {
					t.Errorf("destroying %s: %v", name, err)
				}
			}
			if err := d.Undefine(ctx); err != nil {
				t.Errorf("undefining %s: %v", name, err)
			}
		} else if !errors.Is(err, libvirt.ErrNoDomain) {
			t.Errorf("looking up %s to remove it: %v", name, err)
		}
		if dir != nil && strings.Contains(dir[1], "frost-domain-") {
			os.RemoveAll(dir[1])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if dir == nil {
		t.Fatalf("the output does not say where the domain's directory is:\n%s", out.String())
	}
	d, err := conn.LookupByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := d.State(ctx); err != nil || st != libvirt.StatePaused {
		t.Errorf("state = %v, %v; want paused", st, err)
	}
	if !strings.Contains(out.String(), "defined "+name+" ("+d.UUID()+"): paused") {
		t.Errorf("output does not report the domain paused with its UUID:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir[1], "c.img")); err != nil {
		t.Errorf("no C: image in the domain's directory: %v", err)
	}

	out.Reset()
	err = define(ctx, o, &out)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second define = %v, want a refusal", err)
	}
}
