package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// progress draws a one-line bar on a terminal's stderr, redrawn at most
// ten times a second so it never slows the transfer it reports. Anywhere
// else (a pipe, a file, a log) it draws nothing: carriage-return redraws
// there are only noise.
type progress struct {
	w           io.Writer // nil: draw nothing
	total       uint64
	done        uint64
	start, last time.Time
}

// newProgress draws on w only if w is a terminal.
func newProgress(w io.Writer, total uint64) *progress {
	p := &progress{total: total, start: time.Now()}
	if isTerminal(w) {
		p.w = w
	}
	return p
}

// isTerminal reports whether w is a file open on a terminal: TCGETS
// succeeds on a tty only (a pipe, a regular file or /dev/null fail it).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

func (p *progress) add(n uint64) {
	p.done += n
	if p.w == nil {
		return
	}
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || p.done >= p.total {
		p.last = now
		p.draw()
	}
}

func (p *progress) draw() {
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(p.done)/float64(p.total), 1)
	}
	fill := int(frac * width)
	rate := float64(p.done) / max(time.Since(p.start).Seconds(), 1e-3) / (1 << 20)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %.1f/%.1f MiB %.0f MiB/s", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
		frac*100, float64(p.done)/(1<<20), float64(p.total)/(1<<20), rate)
}

// finish ends the bar's line; end, if interrupted, clears it instead so
// the error that follows starts on its own line.
func (p *progress) finish() {
	if p.w != nil {
		p.draw()
		fmt.Fprintln(p.w)
	}
}

func (p *progress) end() {
	if p.w != nil && p.done < p.total {
		fmt.Fprintln(p.w)
	}
}
