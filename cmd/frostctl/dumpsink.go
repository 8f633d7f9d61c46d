package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// dumpSink is where a dump goes: a temporary file beside the named one,
// renamed over it only once every byte is written (an interrupted dump
// leaves no file whose headers claim bytes it lacks), or a stream (stdout)
// written in one pass.
type dumpSink struct {
	w     io.Writer
	f     *os.File // the temporary file; nil for a stream
	final string
	off   uint64
}

func openSink(path string, stdout io.Writer) (*dumpSink, error) {
	if path == "-" {
		return &dumpSink{w: stdout}, nil
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// Same directory, so the rename is atomic; 0600, as guest memory is
	// as private as the guest.
	f, err := os.CreateTemp(dir, "."+base+".partial-*")
	if err != nil {
		return nil, err
	}
	return &dumpSink{w: f, f: f, final: path}, nil
}

func (s *dumpSink) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.off += uint64(n)
	return n, err
}

// skip leaves n bytes of zeros: a hole in a file (sparse), zeros on a
// stream.
func (s *dumpSink) skip(n uint64) error {
	if s.f != nil {
		if _, err := s.f.Seek(int64(n), io.SeekCurrent); err != nil {
			return err
		}
		s.off += n
		return nil
	}
	zeros := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, uint64(len(zeros)))
		if _, err := s.Write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// commit makes the file appear under its name, complete.
func (s *dumpSink) commit() error {
	if s.f == nil {
		return nil
	}
	// A raw dump ending in a hole: the skip moved the offset, not the size.
	if err := s.f.Truncate(int64(s.off)); err != nil {
		return errors.Join(err, s.abort())
	}
	if err := s.f.Close(); err != nil {
		os.Remove(s.f.Name())
		return err
	}
	if err := os.Rename(s.f.Name(), s.final); err != nil {
		os.Remove(s.f.Name())
		return fmt.Errorf("moving the finished dump into place: %w", err)
	}
	return nil
}

// abort removes the partial file. A stream cannot be taken back: the
// command's exit status tells its reader it is incomplete.
func (s *dumpSink) abort() error {
	if s.f == nil {
		return nil
	}
	s.f.Close()
	if err := os.Remove(s.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the partial file %s: %w", s.f.Name(), err)
	}
	return nil
}
