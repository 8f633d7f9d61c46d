package linuxguest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files are the guest's two inputs, taken out of their packages and kept
// in the cache beside them.
type Files struct {
	// Kernel is the bzImage (boot/vmlinuz-*), Busybox the static binary.
	Kernel, Busybox string
	// The packages they came from.
	KernelPackage, BusyboxPackage Package
	// Took is the whole Fetch: resolving, downloading, extracting.
	Took time.Duration
}

// Fetch resolves the kernel linux-image-amd64 depends on today and
// busybox-static, downloads whichever the cache (DefaultCacheDir when
// cache is "") lacks, and takes the kernel image and busybox out of them.
// logf, when not nil, hears about slow steps (apt-get update, downloads).
func Fetch(ctx context.Context, cache string, logf func(format string, args ...any)) (*Files, error) {
	return fetch(ctx, cache, &apt{run: runCommand, root: os.Geteuid() == 0, logf: logfOrDiscard(logf)})
}

func logfOrDiscard(logf func(string, ...any)) func(string, ...any) {
	if logf == nil {
		return func(string, ...any) {}
	}
	return logf
}

func fetch(ctx context.Context, cache string, a *apt) (*Files, error) {
	start := time.Now()
	if cache == "" {
		cache = DefaultCacheDir()
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, cacheError(cache, err)
	}
	kpkg, err := a.kernelPackage(ctx)
	if err != nil {
		return nil, fmt.Errorf("linuxguest: which kernel %s depends on: %w", kernelMetapackage, err)
	}
	vs, err := a.candidates(ctx, kpkg, busyboxPackage)
	if err != nil {
		return nil, fmt.Errorf("linuxguest: %w", err)
	}
	f := &Files{}
	for _, p := range []struct {
		name string
		pkg  *Package
		out  *string
		file string
		want member
		what string
	}{
		{kpkg, &f.KernelPackage, &f.Kernel, "vmlinuz", isKernelImage, "boot/vmlinuz-*"},
		{busyboxPackage, &f.BusyboxPackage, &f.Busybox, "busybox", isBusybox, "bin/busybox"},
	} {
		v := vs[p.name]
		var err error
		if *p.pkg, err = a.download(ctx, cache, p.name, v); err != nil {
			return nil, err
		}
		if p.pkg.Downloaded {
			a.logf("linuxguest: downloaded %s %s: %.1f MB in %v", p.name, v, float64(p.pkg.Size)/1e6, p.pkg.Took.Round(time.Millisecond))
		}
		// The extracted file sits in a directory named after the .deb,
		// so it is as versioned as the package.
		dir := filepath.Join(cache, strings.TrimSuffix(debName(p.name, v), ".deb"))
		*p.out = filepath.Join(dir, p.file)
		if _, err := os.Stat(*p.out); err == nil {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, cacheError(cache, err)
		}
		if err := extract(ctx, p.pkg.Deb, *p.out, p.want, p.what); err != nil {
			return nil, err
		}
	}
	f.Took = time.Since(start)
	return f, nil
}
