package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a one-line bar on a terminal's stderr, redrawn at most
// ten times a second so it never slows the transfer it reports.
type progress struct {
	w           io.Writer
	total       uint64
	done        uint64
	start, last time.Time
}

func newProgress(w io.Writer, total uint64) *progress {
	now := time.Now()
	return &progress{w: w, total: total, start: now}
}

func (p *progress) add(n uint64) {
	p.done += n
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || p.done >= p.total {
		p.last = now
		p.draw()
	}
}

func (p *progress) draw() {
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = float64(p.done) / float64(p.total)
	}
	fill := int(frac * width)
	rate := float64(p.done) / max(time.Since(p.start).Seconds(), 1e-3) / (1 << 20)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %.1f/%.1f MiB %.0f MiB/s", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
		frac*100, float64(p.done)/(1<<20), float64(p.total)/(1<<20), rate)
}

func (p *progress) finish() { p.draw(); fmt.Fprintln(p.w) }
