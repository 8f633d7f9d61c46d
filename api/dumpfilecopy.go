package api

import (
	"context"

	"google.golang.org/grpc/status"

	"github.com/frostvmi/frost/session"
)

// fileDump copies guest-physical ranges into a file descriptor: one
// goroutine reads chunks from the data plane while this one writes the
// previous chunk, so on two cores the copy out of the mapping and the
// write into the page cache overlap.
type fileDump struct {
	ctx      context.Context
	vm       *session.Session
	fd       int
	path     string
	progress func(written uint64) error
	written  uint64 // range bytes written
	unread   uint64 // of those, bytes the data plane could not serve (zeros)
	reported uint64
}

type fileChunk struct {
	buf    []byte
	gpa    uint64
	unread uint64
	err    error
}

// copyRange writes [start, end) at file offset off.
func (w *fileDump) copyRange(start, end, off uint64) error {
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	full := make(chan fileChunk, 1)
	free := make(chan []byte, 2)
	free <- make([]byte, fileDumpChunk)
	free <- make([]byte, fileDumpChunk)
	go func() {
		defer close(full)
		for gpa := start; gpa < end; {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			n := min(uint64(len(buf)), end-gpa)
			c := fileChunk{buf: buf[:n], gpa: gpa}
			pages, err := readPhysical(ctx, w.vm.Target, gpa, c.buf)
			c.err = err
			for _, p := range pages {
				if !p.Served {
					c.unread += p.Length
				}
			}
			select {
			case full <- c:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			gpa += n
		}
	}()
	for c := range full {
		if c.err != nil {
			return c.err
		}
		if err := pwriteAll(w.fd, c.buf, off+(c.gpa-start)); err != nil {
			return fileError(w.path, err)
		}
		w.written += uint64(len(c.buf))
		w.unread += c.unread
		free <- c.buf[:cap(c.buf)]
		if w.written-w.reported >= fileDumpProgress {
			w.reported = w.written
			if err := w.progress(w.written); err != nil {
				return err
			}
		}
	}
	// The reader also stops when the call's context ends.
	if err := w.ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	return nil
}
