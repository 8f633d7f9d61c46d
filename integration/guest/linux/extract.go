package linuxguest

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// maxMember caps a file taken out of a package: a kernel image is ~8 MiB
// and busybox ~2 MiB, so anything near this is not what we asked for.
const maxMember = 128 << 20

// member picks a file out of a package's file system tree by its path
// ("boot/vmlinuz-6.1.0-57-amd64"), without the leading "./".
type member func(name string) bool

// extract copies the first regular file of deb that want accepts to dst
// (through a temporary name, renamed once complete). It reads the data
// tarball that `dpkg-deb --fsys-tarfile` streams, and stops reading as
// soon as it has the file: a kernel package's modules, which follow
// boot/, are never decompressed.
func extract(ctx context.Context, deb, dst string, want member, what string) error {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		return fmt.Errorf("linuxguest: dpkg-deb not found (it comes with dpkg on Debian): %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	// dpkg-deb forks a decompressor that shares its pipes: stopping early
	// must stop the whole process group, or the decompressor, blocked on
	// the stdout nobody reads, keeps stderr open and Wait never returns.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("linuxguest: dpkg-deb: %w", err)
	}
	found, copyErr := copyMember(out, dst, want)
	// The rest of the stream is not wanted: stop dpkg-deb, whose exit is
	// then a kill, not a failure.
	cancel()
	waitErr := cmd.Wait()
	switch {
	case copyErr != nil:
		return fmt.Errorf("linuxguest: %s in %s: %w (dpkg-deb: %s)", what, deb, copyErr, strings.TrimSpace(stderr.String()))
	case !found && waitErr != nil:
		return fmt.Errorf("linuxguest: dpkg-deb --fsys-tarfile %s: %w: %s", deb, waitErr, strings.TrimSpace(stderr.String()))
	case !found:
		return fmt.Errorf("linuxguest: %s has no %s", deb, what)
	}
	return nil
}

// copyMember reads a tar stream up to the member want accepts and writes
// it to dst.
func copyMember(r io.Reader, dst string, want member) (bool, error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		name := strings.TrimPrefix(path.Clean(h.Name), "./")
		if h.Typeflag != tar.TypeReg || !want(name) {
			continue
		}
		if h.Size <= 0 || h.Size > maxMember {
			return false, fmt.Errorf("%s is %d bytes, outside (0, %d]", name, h.Size, maxMember)
		}
		return true, writeAtomically(dst, 0o755, func(w io.Writer) error {
			n, err := io.Copy(w, io.LimitReader(tr, h.Size))
			if err == nil && n != h.Size {
				err = fmt.Errorf("%s: %d of %d bytes", name, n, h.Size)
			}
			return err
		})
	}
}

// writeAtomically writes a file under a temporary name in its directory
// and renames it into place, so a reader never sees half of it.
func writeAtomically(dst string, mode os.FileMode, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}

// isKernelImage accepts the package's boot/vmlinuz-<version>.
func isKernelImage(name string) bool { return strings.HasPrefix(name, "boot/vmlinuz-") }

// isBusybox accepts busybox-static's binary.
func isBusybox(name string) bool { return name == "bin/busybox" }
