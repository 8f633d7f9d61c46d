package linuxguest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseKernelDepends(t *testing.T) {
	out := "linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n  Recommends: firmware\n"
	if got, err := parseKernelDepends([]byte(out)); err != nil || got != "linux-image-6.1.0-57-amd64" {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := parseKernelDepends([]byte("linux-image-amd64\n  Depends: initramfs-tools\n")); !errors.Is(err, errNoCandidate) {
		t.Errorf("no kernel dependency: %v", err)
	}
}

func TestParseCandidates(t *testing.T) {
	out := `linux-image-6.1.0-57-amd64-unsigned:
  Installed: (none)
  Candidate: 6.1.192-3
  Version table:
     6.1.192-3 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
busybox-static:
  Installed: (none)
  Candidate: 1:1.35.0-4+deb12u1+b1
`
	vs, err := parseCandidates([]byte(out), []string{"linux-image-6.1.0-57-amd64-unsigned", "busybox-static"})
	if err != nil || vs["busybox-static"] != "1:1.35.0-4+deb12u1+b1" || vs["linux-image-6.1.0-57-amd64-unsigned"] != "6.1.192-3" {
		t.Errorf("got %v, %v", vs, err)
	}
	none := "busybox-static:\n  Installed: (none)\n  Candidate: (none)\n"
	if _, err := parseCandidates([]byte(none), []string{"busybox-static"}); !errors.Is(err, errNoCandidate) {
		t.Errorf("candidate (none): %v", err)
	}
	if _, err := parseCandidates(nil, []string{"busybox-static"}); !errors.Is(err, errNoCandidate) {
		t.Errorf("no output: %v", err)
	}
}

func TestDebName(t *testing.T) {
	if got := debName("busybox-static", "1:1.35.0-4"); got != "busybox-static_1%3a1.35.0-4_amd64.deb" {
		t.Errorf("debName = %q", got)
	}
}

// fakeApt answers apt-cache from canned output; before apt-get update it
// knows no packages, as on a fresh machine.
type fakeApt struct {
	updated bool
	calls   []string
	failGet bool
}

func (f *fakeApt) run(_ context.Context, dir, name string, args ...string) ([]byte, error) {
	call := name + " " + strings.Join(args, " ")
	f.calls = append(f.calls, call)
	switch {
	case call == "apt-get update":
		f.updated = true
		return nil, nil
	case !f.updated && name == "apt-cache":
		return []byte("E: No packages found"), errors.New("exit status 100")
	case call == "apt-cache depends linux-image-amd64":
		return []byte("linux-image-amd64\n  Depends: linux-image-9.9.9-1-amd64\n"), nil
	case strings.HasPrefix(call, "apt-cache policy"):
		return []byte("linux-image-9.9.9-1-amd64-unsigned:\n  Candidate: 9.9.9-1\nbusybox-static:\n  Candidate: 1:2.0-1\n"), nil
	case strings.HasPrefix(call, "apt-get download"):
		if f.failGet {
			// runCommand's errors carry the command's output.
			return nil, errors.New("exit status 100\nTemporary failure resolving 'deb.debian.org'")
		}
		pkg, ver, _ := strings.Cut(args[1], "=")
		return nil, os.WriteFile(filepath.Join(dir, debName(pkg, ver)), []byte("deb"), 0o644)
	}
	return nil, errors.New("unexpected " + call)
}

// A machine without package lists: apt-get update runs once, then the
// packages resolve and download into the cache under their final names;
// a second resolution finds them there.
func TestAptUpdatesOnceAndDownloads(t *testing.T) {
	f := &fakeApt{}
	a := &apt{run: f.run, root: true, logf: t.Logf}
	ctx := context.Background()
	name, err := a.kernelPackage(ctx)
	if err != nil || name != "linux-image-9.9.9-1-amd64-unsigned" {
		t.Fatalf("kernelPackage = %q, %v", name, err)
	}
	vs, err := a.candidates(ctx, name, busyboxPackage)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	p, err := a.download(ctx, cache, busyboxPackage, vs[busyboxPackage])
	if err != nil || !p.Downloaded || p.Deb != filepath.Join(cache, "busybox-static_1%3a2.0-1_amd64.deb") {
		t.Fatalf("download: %+v, %v", p, err)
	}
	again, err := a.download(ctx, cache, busyboxPackage, vs[busyboxPackage])
	if err != nil || again.Downloaded || again.Deb != p.Deb {
		t.Errorf("second download: %+v, %v", again, err)
	}
	updates := 0
	for _, c := range f.calls {
		if c == "apt-get update" {
			updates++
		}
	}
	if updates != 1 {
		t.Errorf("apt-get update ran %d times: %q", updates, f.calls)
	}
	// Nothing but the .deb is left in the cache (no temporary directory).
	if left, _ := os.ReadDir(cache); len(left) != 1 {
		t.Errorf("cache holds %v", left)
	}
}

func TestAptErrors(t *testing.T) {
	ctx := context.Background()
	// Without root, apt-get update cannot run: say so.
	a := &apt{run: (&fakeApt{}).run, root: false, logf: t.Logf}
	if _, err := a.kernelPackage(ctx); err == nil || !strings.Contains(err.Error(), "needs root") {
		t.Errorf("not root: %v", err)
	}
	// A failed download names the package and leaves nothing behind.
	f := &fakeApt{updated: true, failGet: true}
	a = &apt{run: f.run, root: true, logf: t.Logf}
	cache := t.TempDir()
	if _, err := a.download(ctx, cache, "busybox-static", "1:2.0-1"); err == nil || !strings.Contains(err.Error(), "no network") || !strings.Contains(err.Error(), "Temporary failure") {
		t.Errorf("failed download: %v", err)
	}
	if left, _ := os.ReadDir(cache); len(left) != 0 {
		t.Errorf("a failed download left %v", left)
	}
	// An unwritable cache names the variable that moves it.
	if _, err := fetch(ctx, "/proc/frost-cache", &apt{run: f.run, root: true, logf: t.Logf}); err == nil || !strings.Contains(err.Error(), CacheEnv) {
		t.Errorf("unwritable cache: %v", err)
	}
}
