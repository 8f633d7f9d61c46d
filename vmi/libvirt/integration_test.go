package libvirt_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/integration/guesttest"
	"github.com/frostvmi/frost/vmi/libvirt"
	"github.com/frostvmi/frost/vmi/physmem"
	"github.com/frostvmi/frost/vmi/qmp"
)

const bootDeadline = 3 * time.Minute

// testDomainPrefix is the prefix integration/ uses too: a run holding the
// TCG lock removes every such domain a crashed run left.
const testDomainPrefix = "frost-test-"

func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	guesttest.Unavailable(t, format, args...)
}

func requireGuest(t testing.TB) string {
	t.Helper()
	guesttest.RequireTools(t, "libvirtd", "virtlogd", "virsh")
	if os.Geteuid() != 0 {
		unavailable(t, "setting up libvirtd needs root")
	}
	return guesttest.Dir(t)
}

// setupLibvirt runs the project's idempotent libvirtd setup and connects.
func setupLibvirt(t *testing.T, ctx context.Context) *libvirt.Conn {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "setup-libvirt.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	c, err := libvirt.Dial(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// clearStale removes test domains a crashed run left; only while holding
// the TCG lock, which any live run would hold.
func clearStale(t *testing.T, ctx context.Context, c *libvirt.Conn) {
	doms, err := c.Domains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range doms {
		if !strings.HasPrefix(info.Name, testDomainPrefix) {
			continue
		}
		t.Logf("removing stale domain %s", info.Name)
		if d, err := c.LookupByUUID(ctx, info.UUID); err == nil {
			removeDomain(ctx, d)
		}
	}
}

// removeDomain destroys (if running) and undefines d, if it still exists.
func removeDomain(ctx context.Context, d *libvirt.Domain) error {
	st, err := d.State(ctx)
	if errors.Is(err, libvirt.ErrNoDomain) {
		return nil
	}
	var errs []error
	if err == nil && st != libvirt.StateShutoff {
		errs = append(errs, d.Destroy(ctx))
	}
	errs = append(errs, d.Undefine(ctx))
	return errors.Join(errs...)
}

// eventWaiter collects a domain's events and waits for particular ones.
type eventWaiter struct {
	t  *testing.T
	ch <-chan libvirt.Event
}

func (w *eventWaiter) waitFor(ctx context.Context, what string, match func(libvirt.Event) bool) {
	w.t.Helper()
	for {
		select {
		case e, ok := <-w.ch:
			if !ok {
				w.t.Fatalf("event stream closed while waiting for %s", what)
			}
			w.t.Logf("event: %v", e)
			if match(e) {
				return
			}
		case <-ctx.Done():
			w.t.Fatalf("no %s event", what)
		}
	}
}

func lifecycle(l libvirt.Lifecycle) func(libvirt.Event) bool {
	return func(e libvirt.Event) bool { return e.Kind == libvirt.EventLifecycle && e.Lifecycle == l }
}

func wantState(t *testing.T, ctx context.Context, d *libvirt.Domain, want libvirt.State) {
	t.Helper()
	st, err := d.State(ctx)
	if err != nil || st != want {
		t.Fatalf("domain state %v, %v; want %v", st, err, want)
	}
}

// TestDomainLifecycle drives a mini-NT domain through libvirtd: define,
// start paused, lookups and listing, resume, suspend/resume, QMP through
// libvirt, guest RAM through physmem, attach (a gdbstub on a private unix
// socket, and on loopback TCP on request), reset (libvirt's REBOOT event),
// destroy and undefine; every step's lifecycle event must arrive.
func TestDomainLifecycle(t *testing.T) {
	out := requireGuest(t)
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	c := setupLibvirt(t, ctx)
	lock, err := minint.LockTCG(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Unlock() })
	clearStale(t, ctx, c)

	name := fmt.Sprintf("%svmi-libvirt-%d", testDomainPrefix, os.Getpid())
	spec, err := minint.NewDomain(name, minint.Config{GuestDir: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spec.Remove() })
	xml, err := spec.XML()
	if err != nil {
		t.Fatal(err)
	}
	// vmi/qemu's domain destroys itself on a reset; the REBOOT event needs
	// QEMU to reset instead of exiting.
	xml = strings.Replace(xml, "<on_reboot>destroy</on_reboot>", "<on_reboot>restart</on_reboot>", 1)

	events, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dom, err := c.Define(ctx, xml)
	if err != nil {
		t.Fatalf("defining: %v\n%s", err, xml)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if err := removeDomain(cctx, dom); err != nil {
			t.Errorf("removing domain %s: %v", name, err)
		}
	})
	mine := make(chan libvirt.Event, 64)
	go func() {
		defer close(mine)
		for e := range events {
			if e.Domain == name {
				mine <- e
			}
		}
	}()
	ev := &eventWaiter{t: t, ch: mine}
	ev.waitFor(ctx, "defined", lifecycle(libvirt.Defined))

	if err := dom.Start(ctx, true); err != nil {
		t.Fatal(err)
	}
	ev.waitFor(ctx, "started", lifecycle(libvirt.Started))
	wantState(t, ctx, dom, libvirt.StatePaused)

	t.Run("lookup and list", func(t *testing.T) {
		for _, key := range []string{name, dom.UUID(), strings.ReplaceAll(dom.UUID(), "-", "")} {
			d, err := c.Lookup(ctx, key)
			if err != nil || d.UUID() != dom.UUID() || d.Name() != name {
				t.Errorf("Lookup(%q): %v", key, err)
			}
		}
		if _, err := c.LookupByName(ctx, name+"-none"); !errors.Is(err, libvirt.ErrNoDomain) {
			t.Errorf("looking up a missing domain: %v", err)
		}
		doms, err := c.Domains(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, d := range doms {
			if d.Name == name {
				found = true
				if d.UUID != dom.UUID() || d.State != libvirt.StatePaused || d.ID <= 0 {
					t.Errorf("listed as %+v", d)
				}
			}
		}
		if !found {
			t.Errorf("domain %s not listed", name)
		}
	})

	if err := dom.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	ev.waitFor(ctx, "resumed", lifecycle(libvirt.Resumed))
	alive := func() error {
		if st, err := dom.State(ctx); err != nil || st != libvirt.StateRunning {
			return fmt.Errorf("domain left the running state: %v %v", st, err)
		}
		return nil
	}
	if _, err := minint.WaitSerialFile(ctx, spec.SerialPath(), minint.MatchEvent("ready"), alive); err != nil {
		t.Fatalf("waiting for ready: %v", err)
	}

	t.Run("suspend and resume", func(t *testing.T) {
		if err := dom.Suspend(ctx); err != nil {
			t.Fatal(err)
		}
		ev.waitFor(ctx, "suspended", lifecycle(libvirt.Suspended))
		wantState(t, ctx, dom, libvirt.StatePaused)
		if s, err := dom.QMP().QueryStatus(ctx); err != nil || s.Status != qmp.StatusPaused {
			t.Errorf("QMP says %+v, %v", s, err)
		}
		if err := dom.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		ev.waitFor(ctx, "resumed", lifecycle(libvirt.Resumed))
		wantState(t, ctx, dom, libvirt.StateRunning)
	})

	t.Run("QMP and guest RAM", func(t *testing.T) {
		mon := dom.QMP()
		var qe *qmp.Error
		if err := mon.Execute(ctx, "no-such-command", nil, nil); !errors.As(err, &qe) || qe.Class != qmp.ClassCommandNotFound {
			t.Errorf("an unknown command through libvirt: %v", err)
		}
		pid, err := dom.PID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mem, err := physmem.Open(ctx, physmem.Options{Monitor: mon.Monitor, PID: pid})
		if err != nil {
			t.Fatal(err)
		}
		defer mem.Close()
		if mem.Kind() != physmem.KindSharedFile || !strings.Contains(mem.String(), "/dev/shm/libvirt-ram") {
			t.Errorf("guest RAM of a libvirt domain through %v", mem)
		}
		t.Logf("guest RAM: %v (block %q)", mem, mem.Map().Block())
		p := make([]byte, 4096)
		if err := mem.ReadPhysical(ctx, 0x100000, p); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("attach", func(t *testing.T) {
		for _, opt := range []libvirt.AttachOptions{{}, {}, {TCP: true}} {
			// Twice over a unix socket: the second replaces the first.
			a, err := dom.Attach(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			if a.PID <= 0 {
				t.Errorf("no QEMU pid in the attachment")
			}
			if !opt.TCP {
				st, err := os.Stat(a.Dir)
				if err != nil || st.Mode().Perm() != 0o700 {
					t.Errorf("socket directory %s: %v, %v", a.Dir, st.Mode(), err)
				}
				if st, err := os.Stat(a.Address); err != nil || st.Mode()&os.ModeSocket == 0 {
					t.Errorf("no socket at %s: %v", a.Address, err)
				}
			} else if !strings.HasPrefix(a.Address, "127.0.0.1:") {
				t.Errorf("TCP gdbstub at %s", a.Address)
			}
			conn, err := net.Dial(a.Network, a.Address)
			if err != nil {
				t.Fatalf("the gdbstub at %s %s does not accept: %v", a.Network, a.Address, err)
			}
			// QEMU's gdbstub stops the guest when a client connects.
			conn.Close()
			ev.waitFor(ctx, "suspended by the gdbstub", lifecycle(libvirt.Suspended))
			if err := dom.Resume(ctx); err != nil {
				t.Fatal(err)
			}
			ev.waitFor(ctx, "resumed", lifecycle(libvirt.Resumed))
			if err := a.Close(ctx); err != nil {
				t.Errorf("closing the attachment: %v", err)
			}
			if a.Dir != "" {
				if _, err := os.Stat(a.Dir); !os.IsNotExist(err) {
					t.Errorf("%s left behind: %v", a.Dir, err)
				}
			}
		}
		wantState(t, ctx, dom, libvirt.StateRunning)
	})

	t.Run("reset", func(t *testing.T) {
		if err := dom.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		ev.waitFor(ctx, "reboot", func(e libvirt.Event) bool { return e.Kind == libvirt.EventReboot })
		wantState(t, ctx, dom, libvirt.StateRunning)
	})

	if err := dom.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	ev.waitFor(ctx, "stopped", lifecycle(libvirt.Stopped))
	if _, err := dom.Attach(ctx, libvirt.AttachOptions{}); err == nil {
		t.Error("attached to a shut-off domain")
	}
	if err := dom.Undefine(ctx); err != nil {
		t.Fatal(err)
	}
	ev.waitFor(ctx, "undefined", lifecycle(libvirt.Undefined))
	if _, err := c.LookupByName(ctx, name); !errors.Is(err, libvirt.ErrNoDomain) {
		t.Errorf("after undefine: %v", err)
	}
}

// TestDialForms connects by socket path, by URI, and fails clearly on a
// socket that is not there.
func TestDialForms(t *testing.T) {
	requireGuest(t)
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	setupLibvirt(t, ctx)
	for _, target := range []string{libvirt.DefaultSocket, libvirt.DefaultURI, "qemu+unix:///system?socket=" + libvirt.DefaultSocket} {
		c, err := libvirt.Dial(ctx, target)
		if err != nil {
			t.Errorf("Dial(%q): %v", target, err)
			continue
		}
		if _, err := c.Domains(ctx); err != nil {
			t.Errorf("Domains over %q: %v", target, err)
		}
		c.Close()
	}
	if _, err := libvirt.Dial(ctx, "/nonexistent/libvirt-sock"); err == nil || !strings.Contains(err.Error(), "/nonexistent/libvirt-sock") {
		t.Errorf("dialing a missing socket: %v", err)
	}
}
