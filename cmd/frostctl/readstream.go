package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"google.golang.org/protobuf/proto"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// Read sizes. A unary ReadPhysical/ReadVirtual reply carries at most
// maxUnaryRead bytes (frostd's limit: a reply must fit gRPC's 4 MiB
// message); anything larger, and anything written to a file, goes
// through StreamPhysical/StreamVirtual, whose chunks have no total limit.
// A hexdump longer than maxTerminalHexdump is refused on a terminal:
// 65536 lines scroll past unread, and what the user wants is -o or a pager.
const (
	maxUnaryRead       = 1 << 20
	maxTerminalHexdump = 1 << 20
	// maxUnreadLines bounds the "not read" lines of a summary; the rest
	// are totalled by page state.
	maxUnreadLines = 20
)

// readChunk is what StreamPhysical and StreamVirtual both send.
type readChunk interface {
	proto.Message
	GetAddress() uint64
	GetData() []byte
	GetPages() []*pb.PageStatus
}

// readStream is one streamed read: where it starts, how long it is, and
// the call that opens it.
type readStream struct {
	at, n uint64
	open  func(ctx context.Context) (func() (readChunk, error), error)
}

func physicalStream(mem pb.MemoryServiceClient, vm string, at, n uint64, postMortem bool) readStream {
	return readStream{at: at, n: n, open: func(ctx context.Context) (func() (readChunk, error), error) {
		s, err := mem.StreamPhysical(ctx, &pb.StreamPhysicalRequest{Vm: vm, Address: at, Length: n, PostMortem: postMortem})
		if err != nil {
			return nil, err
		}
		return func() (readChunk, error) { return s.Recv() }, nil
	}}
}

func virtualStream(mem pb.MemoryServiceClient, vm string, space *pb.AddressSpace, at, n uint64) readStream {
	return readStream{at: at, n: n, open: func(ctx context.Context) (func() (readChunk, error), error) {
		s, err := mem.StreamVirtual(ctx, &pb.StreamVirtualRequest{Vm: vm, Space: space, Address: at, Length: n})
		if err != nil {
			return nil, err
		}
		return func() (readChunk, error) { return s.Recv() }, nil
	}}
}

// readTally is what a streamed read could not read, for its summary.
type readTally struct {
	unread      []unreadRun
	unreadBytes uint64
	smear       bool
	hardware    bool // the page tables were walked as the processor does
	// postMortem: frostd flagged bytes as a gone guest's last RAM.
	postMortem bool
}

// unreadRun is adjacent unread pieces in one page state. Their reasons may
// differ (a reason often names its page's address): the first is kept,
// with how many pieces the run holds.
type unreadRun struct {
	p            *pb.PageStatus // absolute address
	pieces       int
	otherReasons bool
}

func (t *readTally) add(ch readChunk) {
	if v, ok := ch.(*pb.StreamVirtualResponse); ok {
		t.smear = t.smear || v.GetSmear()
		t.hardware = t.hardware || v.GetModel() == pb.TranslationModel_TRANSLATION_MODEL_X86_64
	}
	if p, ok := ch.(*pb.StreamPhysicalResponse); ok {
		t.postMortem = t.postMortem || p.GetPostMortem()
	}
	for _, p := range ch.GetPages() {
		if p.GetServed() {
			continue
		}
		t.unreadBytes += p.GetLength()
		at := ch.GetAddress() + p.GetOffset()
		if k := len(t.unread); k > 0 {
			last := &t.unread[k-1]
			if last.p.GetAddress()+last.p.GetLength() == at && last.p.GetLocation().GetState() == p.GetLocation().GetState() {
				last.p.Length += p.GetLength()
				last.pieces++
				last.otherReasons = last.otherReasons || last.p.GetReason() != p.GetReason()
				continue
			}
		}
		q := proto.Clone(p).(*pb.PageStatus)
		q.Address, q.Offset = at, 0
		t.unread = append(t.unread, unreadRun{p: q, pieces: 1})
	}
}

// print lists what could not be read, at most maxUnreadLines runs, then
// totals the rest by page state.
func (t *readTally) print(w io.Writer) {
	for i, r := range t.unread {
		if i == maxUnreadLines {
			fmt.Fprintf(w, "not read: %d more runs; by page state:\n", len(t.unread)-i)
			byState := map[string]uint64{}
			for _, q := range t.unread[i:] {
				byState[stateName(q.p.GetLocation().GetState())] += q.p.GetLength()
			}
			states := make([]string, 0, len(byState))
			for s := range byState {
				states = append(states, s)
			}
			sort.Strings(states)
			for _, s := range states {
				fmt.Fprintf(w, "  %s: %d bytes\n", s, byState[s])
			}
			break
		}
		fmt.Fprintf(w, "not read: %s +%#x: %s", addr(r.p.GetAddress()), r.p.GetLength(), pieceState(r.p))
		if r.otherReasons {
			fmt.Fprintf(w, " (the first of %d pieces in this state)", r.pieces)
		}
		fmt.Fprintln(w)
	}
	if t.hardware && len(t.unread) > 0 {
		fmt.Fprintln(w, hardwareNote)
	}
	if t.smear {
		fmt.Fprintln(w, "the guest ran during the read: its pages come from different moments (pause it for a consistent image)")
	}
	if t.postMortem {
		fmt.Fprintln(w, postMortemNote)
	}
}

// run receives every chunk, checks it is the next, and hands it to each.
func (r readStream) run(ctx context.Context, each func(readChunk) error) error {
	recv, err := r.open(ctx)
	if err != nil {
		return err
	}
	next := r.at
	for {
		ch, err := recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if ch.GetAddress() != next || uint64(len(ch.GetData())) > r.at+r.n-next {
			return fmt.Errorf("frostd sent %d bytes at %s, expected the bytes at %s", len(ch.GetData()), addr(ch.GetAddress()), addr(next))
		}
		next += uint64(len(ch.GetData()))
		if err := each(ch); err != nil {
			return err
		}
	}
	if next != r.at+r.n {
		return fmt.Errorf("frostd's stream ended at %s, before the end of the range at %s", addr(next), addr(r.at+r.n))
	}
	return nil
}

// toFile streams the range into path, through a temporary file beside it
// renamed into place at the end: an interrupted or failed read leaves no
// file that looks whole. "-" writes the raw bytes to stdout.
func (r readStream) toFile(ctx context.Context, c *cli, path string) error {
	if path == "-" {
		if isTerminal(c.out) {
			return errors.New("-o - writes raw bytes: redirect stdout to a file or a pipe, or drop -o for a hexdump")
		}
		return r.toWriter(ctx, c, c.out, c.errOut)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	defer tmp.Close()
	if err := r.toWriter(ctx, c, tmp, c.out); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// toWriter writes the bytes to w with a progress bar on a terminal's
// stderr, and the summary to sum (or, with --json, each chunk's page
// statuses as JSON Lines, the bytes left out: they are in the file).
func (r readStream) toWriter(ctx context.Context, c *cli, w io.Writer, sum io.Writer) error {
	bar := newProgress(c.errOut, r.n)
	var t readTally
	err := r.run(ctx, func(ch readChunk) error {
		if _, err := w.Write(ch.GetData()); err != nil {
			return err
		}
		t.add(ch)
		bar.add(uint64(len(ch.GetData())))
		if c.json {
			meta := proto.Clone(ch)
			meta.ProtoReflect().Clear(meta.ProtoReflect().Descriptor().Fields().ByName("data"))
			return c.emitLine(meta, nil)
		}
		return nil
	})
	if err != nil {
		bar.end()
		return err
	}
	bar.finish()
	if c.json {
		return nil
	}
	fmt.Fprintf(sum, "%d bytes from %s: %d read", r.n, addr(r.at), r.n-t.unreadBytes)
	if t.unreadBytes > 0 {
		fmt.Fprintf(sum, ", %d not read (zeros in the output)", t.unreadBytes)
	}
	fmt.Fprintln(sum)
	t.print(sum)
	return nil
}

// hexdump streams the range as a hexdump (JSON Lines of the chunks with
// --json), refusing one too long to read on a terminal.
func (r readStream) hexdump(ctx context.Context, c *cli) error {
	if !c.json && r.n > maxTerminalHexdump && isTerminal(c.out) {
		return fmt.Errorf("a hexdump of %d bytes is %d lines: write the bytes to a file with -o FILE, or pipe the hexdump (| less)", r.n, (r.n+15)/16)
	}
	var t readTally
	err := r.run(ctx, func(ch readChunk) error {
		noted := t.postMortem
		t.add(ch)
		if c.json {
			return c.emitLine(ch, nil)
		}
		if t.postMortem && !noted {
			// Said before the first such bytes, and again in the summary.
			fmt.Fprintln(c.out, postMortemNote)
		}
		hexdump(c.out, ch.GetAddress(), ch.GetData(), ch.GetPages())
		return nil
	})
	if err != nil {
		return err
	}
	if !c.json {
		t.print(c.out)
	}
	return nil
}
