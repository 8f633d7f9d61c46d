package client

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/translate"
)

const pageSize = 4096

// maxGRPCRead is frostd's largest unary read; a longer fallback is cut
// into pieces of it.
const maxGRPCRead = 1 << 20

// PartialError is a read that served some of its bytes: Pages says which
// pieces were not served (they are zero-filled in the buffer) and why, as
// frostd's reply does.
type PartialError struct {
	Pages []*pb.PageStatus
}

func (e *PartialError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client: %d piece(s) not served", len(e.Pages))
	if len(e.Pages) > 0 {
		fmt.Fprintf(&b, "; first at %#x: %s", e.Pages[0].GetAddress(), e.Pages[0].GetReason())
	}
	return b.String()
}

// ReadPhysical fills buf from guest-physical address pa of vm. When the
// client is local and frostd handed out vm's RAM, a range wholly in RAM
// is copied from the mapping; anything else (a hole, MMIO, no mapping)
// is frostd's ReadPhysical. The error is nil when every byte was served,
// and a *PartialError naming the pieces not served (zero-filled) and why
// when some were not, even all; any other error is frostd's status or
// the connection's.
func (c *Client) ReadPhysical(ctx context.Context, vm string, pa uint64, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	if r := c.ram(ctx, vm); r != nil && r.readPhys(pa, buf) {
		return nil
	}
	var unserved []*pb.PageStatus
	for off := 0; off < len(buf); off += maxGRPCRead {
		piece := buf[off:min(off+maxGRPCRead, len(buf))]
		resp, err := c.Memory.ReadPhysical(ctx, &pb.ReadPhysicalRequest{Vm: vm, Address: pa + uint64(off), Length: uint64(len(piece))})
		pages, err := pieceResult(resp.GetData(), resp.GetPages(), err, piece, uint64(off))
		if err != nil {
			return err
		}
		unserved = append(unserved, pages...)
	}
	return partial(unserved)
}

func (r *vmRAM) readPhys(pa uint64, buf []byte) (ok bool) {
	r.mu.RLock()
	// A fault on the mapping (the file shrank under it) falls back
	// rather than crashing. The deferred closure stays on the stack: no
	// allocation per read.
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		r.mu.RUnlock()
		if recover() != nil {
			ok = false
		}
	}()
	return r.data != nil && r.copyPhys(pa, buf)
}

// ReadVirtual fills buf from va in the address space of process pid of
// vm. When local, each page is walked with the processor's rules over the
// mapped RAM, using the process's page-table base (DTB) that frostd gave
// (see the package documentation for how long it is trusted); a page that
// is not a present hardware translation (Windows' transition, paging
// file, prototype PTEs, ...) or fails in any way is read by frostd's
// ReadVirtual, so the bytes are frostd's. Errors are as ReadPhysical's.
func (c *Client) ReadVirtual(ctx context.Context, vm string, pid uint32, va uint64, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	if va+uint64(len(buf)) < va && va+uint64(len(buf)) != 0 {
		return fmt.Errorf("client: read of %d bytes at %#x wraps past 2^64", len(buf), va)
	}
	r, dtb, haveDTB := c.local(ctx, vm, pid)
	if r == nil || !haveDTB {
		return c.readVirtualRemote(ctx, vm, pid, va, buf)
	}
	var unserved []*pb.PageStatus
	// [gapStart, off) is a run of pages the walk left to frostd.
	gapStart, inGap := 0, false
	flush := func(end int) error {
		if !inGap {
			return nil
		}
		inGap = false
		pages, err := c.readVirtualRun(ctx, vm, pid, va+uint64(gapStart), buf[gapStart:end], uint64(gapStart))
		unserved = append(unserved, pages...)
		return err
	}
	for off := 0; off < len(buf); {
		n := min(pageSize-int((va+uint64(off))%pageSize), len(buf)-off)
		if r.readVirtualPage(dtb, va+uint64(off), buf[off:off+n]) {
			if err := flush(off); err != nil {
				return err
			}
		} else if !inGap {
			gapStart, inGap = off, true
		}
		off += n
	}
	if err := flush(len(buf)); err != nil {
		return err
	}
	return partial(unserved)
}

// readVirtualPage serves one piece within a page from the mapping, when
// the processor's walk finds it present and its frame is in the map.
func (r *vmRAM) readVirtualPage(dtb, va uint64, p []byte) (ok bool) {
	r.mu.RLock()
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		r.mu.RUnlock()
		if recover() != nil {
			ok = false
		}
	}()
	if r.data == nil {
		return false
	}
	loc, err := r.hw.Translate(dtb, va)
	if err != nil || loc.State != translate.StateValid {
		return false
	}
	return r.copyPhys(loc.Addr, p)
}

// readVirtualRemote reads the whole request through frostd, learning the
// process's DTB from the reply.
func (c *Client) readVirtualRemote(ctx context.Context, vm string, pid uint32, va uint64, buf []byte) error {
	pages, err := c.readVirtualRun(ctx, vm, pid, va, buf, 0)
	if err != nil {
		return err
	}
	return partial(pages)
}

// readVirtualRun is frostd's ReadVirtual of buf at va, in pieces it
// accepts; base is buf's offset in the caller's buffer, for the pages
// returned (the pieces not served).
func (c *Client) readVirtualRun(ctx context.Context, vm string, pid uint32, va uint64, buf []byte, base uint64) ([]*pb.PageStatus, error) {
	var unserved []*pb.PageStatus
	space := &pb.AddressSpace{Space: &pb.AddressSpace_Pid{Pid: pid}}
	for off := 0; off < len(buf); off += maxGRPCRead {
		piece := buf[off:min(off+maxGRPCRead, len(buf))]
		resp, err := c.Memory.ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: vm, Space: space, Address: va + uint64(off), Length: uint64(len(piece))})
		if err == nil && resp.GetDtb() != 0 {
			c.learnDTB(vm, pid, resp.GetDtb())
		} else if err != nil {
			c.forgetDTB(vm, pid)
		}
		pages, err := pieceResult(resp.GetData(), resp.GetPages(), err, piece, base+uint64(off))
		if err != nil {
			return nil, err
		}
		unserved = append(unserved, pages...)
	}
	return unserved, nil
}

// pieceResult copies a gRPC read's data into piece and returns its pieces
// not served, their offsets moved by base. A reply that served nothing
// (FailedPrecondition with the pages in its detail) counts as all
// unserved; any other error is returned.
func pieceResult(data []byte, pages []*pb.PageStatus, err error, piece []byte, base uint64) ([]*pb.PageStatus, error) {
	if err != nil {
		detail := errorPages(err)
		if detail == nil {
			return nil, err
		}
		clear(piece)
		pages = detail
	} else {
		if len(data) != len(piece) {
			return nil, fmt.Errorf("client: frostd returned %d bytes for a read of %d", len(data), len(piece))
		}
		copy(piece, data)
	}
	var out []*pb.PageStatus
	for _, p := range pages {
		if !p.GetServed() {
			q := proto.Clone(p).(*pb.PageStatus)
			q.Offset += base
			out = append(out, q)
		}
	}
	return out, nil
}

// errorPages is the per-page detail of frostd's "served nothing" error.
func errorPages(err error) []*pb.PageStatus {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok && ed.GetReason() == pb.ErrorReason_ERROR_REASON_NOTHING_READABLE && len(ed.GetPages()) > 0 {
			return ed.GetPages()
		}
	}
	return nil
}

// partial is the read's outcome: nil, or the pieces not served; a read
// that served nothing is a *PartialError too, so the caller sees every
// reason the same way whichever path served the rest.
func partial(unserved []*pb.PageStatus) error {
	if len(unserved) == 0 {
		return nil
	}
	return &PartialError{Pages: unserved}
}

// dtbKey names one process of one VM.
type dtbKey struct {
	vm  string
	pid uint32
}

type dtbEntry struct {
	dtb uint64
	at  time.Time
}

// local is vm's mapping (nil: read over gRPC) and pid's page-table base
// as frostd last gave it, if younger than the max age. The common case,
// both known and fresh, takes one lock and one clock reading.
func (c *Client) local(ctx context.Context, vm string, pid uint32) (*vmRAM, uint64, bool) {
	if c.memSock == "" {
		return nil, 0, false
	}
	now := c.now()
	c.mu.Lock()
	r := c.rams[vm]
	e, haveDTB := c.dtbs[dtbKey{vm, pid}]
	c.mu.Unlock()
	haveDTB = haveDTB && c.opt.dtbMaxAge > 0 && now.Sub(e.at) < c.opt.dtbMaxAge
	if r == nil || r.refused != nil || r.age(now) >= c.opt.mapRecheck {
		r = c.ram(ctx, vm)
	}
	return r, e.dtb, haveDTB
}

func (c *Client) learnDTB(vm string, pid uint32, dtb uint64) {
	if c.opt.dtbMaxAge <= 0 || c.memSock == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Bounded: a caller sweeping pids cannot grow the cache without end.
	if len(c.dtbs) >= maxDTBs {
		clear(c.dtbs)
	}
	c.dtbs[dtbKey{vm, pid}] = dtbEntry{dtb: dtb, at: c.now()}
}

func (c *Client) forgetDTB(vm string, pid uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.dtbs, dtbKey{vm, pid})
}

// maxDTBs bounds the DTB cache.
const maxDTBs = 4096
