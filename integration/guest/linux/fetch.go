package linuxguest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The packages the guest is made of. The kernel's name changes with every
// Debian kernel ABI bump (linux-image-6.1.0-57-amd64 today), so it is
// resolved through the metapackage a user would install; the unsigned
// build is the same kernel without the Secure Boot signature wrapper.
const (
	kernelMetapackage = "linux-image-amd64"
	busyboxPackage    = "busybox-static"
)

// CacheEnv names a directory that replaces DefaultCacheDir.
const CacheEnv = "FROST_LINUX_GUEST_CACHE"

// DefaultCacheDir is where the packages are kept between runs: outside
// the checkout, so a fresh clone finds them, and keyed by package version,
// so a kernel update fetches the new one beside the old.
func DefaultCacheDir() string {
	if d := os.Getenv(CacheEnv); d != "" {
		return d
	}
	return "/var/cache/frost/linux-guest"
}

// Package is one downloaded Debian package.
type Package struct {
	Name    string
	Version string
	// Deb is the .deb in the cache.
	Deb  string
	Size int64
	// Downloaded is false when the cache already held it; Took is the
	// download's time.
	Downloaded bool
	Took       time.Duration
}

// runner runs a command in dir ("" for ours) and returns its combined
// output; tests replace it.
type runner func(ctx context.Context, dir, name string, args ...string) ([]byte, error)

func runCommand(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	if _, err := exec.LookPath(name); err != nil {
		return nil, fmt.Errorf("%s not found: the Linux guest is built from Debian packages with apt and dpkg: %w", name, err)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	// apt's messages are parsed: keep them in English.
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// apt asks apt where the packages are and downloads them.
type apt struct {
	run runner
	// updated is set once apt-get update has run: it is worth running
	// once (a fresh machine has no package lists), never twice.
	updated bool
	// root says whether apt-get update may run (it needs root).
	root bool
	logf func(format string, args ...any)
}

// errNoCandidate is apt knowing no installable version of a package,
// which on a fresh machine means its package lists were never fetched.
var errNoCandidate = errors.New("apt has no candidate version")

// kernelPackage returns the unsigned image package of the kernel the
// metapackage depends on today.
func (a *apt) kernelPackage(ctx context.Context) (string, error) {
	var name string
	err := a.retryAfterUpdate(ctx, func() error {
		out, err := a.run(ctx, "", "apt-cache", "depends", kernelMetapackage)
		if err != nil {
			// "E: No packages found" is apt without lists.
			return fmt.Errorf("%w: %w", errNoCandidate, err)
		}
		name, err = parseKernelDepends(out)
		return err
	})
	if err != nil {
		return "", err
	}
	return name + "-unsigned", nil
}

// candidates returns the version apt would install of each package, in
// one apt-cache call (each costs most of a second of loading apt's cache).
func (a *apt) candidates(ctx context.Context, pkgs ...string) (map[string]string, error) {
	var vs map[string]string
	err := a.retryAfterUpdate(ctx, func() error {
		out, err := a.run(ctx, "", "apt-cache", append([]string{"policy"}, pkgs...)...)
		if err != nil {
			return err
		}
		vs, err = parseCandidates(out, pkgs)
		return err
	})
	return vs, err
}

// retryAfterUpdate runs f, and once more after apt-get update if apt
// lacked the package.
func (a *apt) retryAfterUpdate(ctx context.Context, f func() error) error {
	err := f()
	if !errors.Is(err, errNoCandidate) || a.updated {
		return err
	}
	a.updated = true
	if !a.root {
		return fmt.Errorf("%w, and apt-get update (to fetch the package lists) needs root", err)
	}
	a.logf("linuxguest: %v; running apt-get update once", err)
	if _, uerr := a.run(ctx, "", "apt-get", "update"); uerr != nil {
		return fmt.Errorf("%w; apt-get update failed (no network?): %w", err, uerr)
	}
	return f()
}

// parseKernelDepends finds the versioned kernel package in
// `apt-cache depends linux-image-amd64`: "  Depends: linux-image-6.1.0-57-amd64".
func parseKernelDepends(out []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		dep, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Depends: ")
		if !ok {
			continue
		}
		dep = strings.Trim(strings.TrimSpace(dep), "<>")
		if strings.HasPrefix(dep, "linux-image-") && strings.HasSuffix(dep, "-amd64") {
			return dep, nil
		}
	}
	return "", fmt.Errorf("%w: apt-cache depends %s names no linux-image-*-amd64 package:\n%s", errNoCandidate, kernelMetapackage, bytes.TrimSpace(out))
}

// parseCandidates reads each package's "  Candidate: 6.1.192-3" from
// `apt-cache policy PKG...`, whose sections start with "PKG:" at column 0.
func parseCandidates(out []byte, pkgs []string) (map[string]string, error) {
	vs := map[string]string{}
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutSuffix(line, ":"); ok && line != "" && line[0] != ' ' {
			cur = name
			continue
		}
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate:")
		if !ok || cur == "" {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" || v == "(none)" {
			continue
		}
		if strings.ContainsAny(v, "/ \t") {
			return nil, fmt.Errorf("apt-cache policy %s: malformed candidate %q", cur, v)
		}
		vs[cur] = v
	}
	for _, p := range pkgs {
		if vs[p] == "" {
			return nil, fmt.Errorf("%w for %s", errNoCandidate, p)
		}
	}
	return vs, nil
}

// debName is how the cache names a package's .deb; an epoch's colon is
// spelled %3a, as apt does, so the name is a plain file name.
func debName(pkg, version string) string {
	return fmt.Sprintf("%s_%s_amd64.deb", pkg, strings.ReplaceAll(version, ":", "%3a"))
}

// download returns pkg at version from the cache, or fetches it with
// apt-get download into a temporary directory and renames it into place:
// a download cut short never carries the final name, so a later run never
// takes it for a good one.
func (a *apt) download(ctx context.Context, cache, pkg, version string) (Package, error) {
	p := Package{Name: pkg, Version: version, Deb: filepath.Join(cache, debName(pkg, version))}
	if st, err := os.Stat(p.Deb); err == nil && st.Mode().IsRegular() {
		p.Size = st.Size()
		return p, nil
	}
	tmp, err := os.MkdirTemp(cache, ".download-")
	if err != nil {
		return p, cacheError(cache, err)
	}
	defer os.RemoveAll(tmp)
	// apt-get download drops root to _apt for the transfer when _apt may
	// write the directory; otherwise it warns and downloads as root.
	_ = os.Chmod(tmp, 0o755)
	start := time.Now()
	if _, err := a.run(ctx, tmp, "apt-get", "download", pkg+"="+version); err != nil {
		return p, fmt.Errorf("linuxguest: downloading %s %s (no network, or the version left the archive?): %w", pkg, version, err)
	}
	p.Took = time.Since(start)
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return p, fmt.Errorf("linuxguest: apt-get download %s=%s left %d .deb files, want 1", pkg, version, len(debs))
	}
	st, err := os.Stat(debs[0])
	if err != nil {
		return p, err
	}
	if err := os.Rename(debs[0], p.Deb); err != nil {
		return p, cacheError(cache, err)
	}
	p.Size, p.Downloaded = st.Size(), true
	return p, nil
}

func cacheError(cache string, err error) error {
	return fmt.Errorf("linuxguest: package cache %s: %w (it needs root, or set %s to a writable directory)", cache, err, CacheEnv)
}
