package linuxguest

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
)

// applets are the busybox commands the guest's scripts run as programs
// (echo, read, wait, [ are ash builtins). Each is a symlink to busybox,
// which picks the applet by the name it was run as.
var applets = []string{"sh", "mount", "grep", "cat", "usleep"}

// WriteInitramfs writes the guest's initramfs, gzip-compressed (the
// kernel also takes it uncompressed, but busybox alone is 2 MiB), to w:
// /bin/busybox and its applet links, /init, /writer, /noise, the mount
// points, and /dev/console, which the kernel opens for pid 1's standard
// streams before /init runs (devtmpfs is mounted only by /init).
func WriteInitramfs(w io.Writer, busybox []byte, c Config) error {
	c, err := c.withDefaults()
	if err != nil {
		return err
	}
	if len(busybox) < 4 || string(busybox[:4]) != "\x7fELF" {
		return fmt.Errorf("linuxguest: busybox is not an ELF file (%d bytes)", len(busybox))
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	a := NewCPIOWriter(zw)
	steps := []func() error{
		func() error { return a.Dir("bin", 0o755) },
		func() error { return a.Dir("dev", 0o755) },
		func() error { return a.Dir("proc", 0o555) },
		func() error { return a.Dir("sys", 0o555) },
		func() error { return a.CharDev("dev/console", 0o600, 5, 1) },
		func() error { return a.File("bin/busybox", 0o755, busybox) },
	}
	for _, name := range applets {
		steps = append(steps, func() error { return a.Symlink("bin/"+name, "busybox") })
	}
	steps = append(steps,
		func() error { return a.File("init", 0o755, []byte(initScript(c))) },
		func() error { return a.File("writer", 0o755, []byte(writerScript(c))) },
		func() error { return a.File("noise", 0o755, []byte(noiseScript(c))) },
		a.Close,
		zw.Close,
	)
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("linuxguest: initramfs: %w", err)
		}
	}
	return nil
}

// WriteInitramfsFile writes the initramfs to path, reading busybox from
// the fetched files.
func WriteInitramfsFile(path string, f *Files, c Config) error {
	bb, err := os.ReadFile(f.Busybox)
	if err != nil {
		return fmt.Errorf("linuxguest: %w", err)
	}
	return writeAtomically(path, 0o644, func(w io.Writer) error { return WriteInitramfs(w, bb, c) })
}
