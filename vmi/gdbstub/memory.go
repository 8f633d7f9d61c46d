package gdbstub

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
)

// maxReadChunk is the most one "m" may ask for: QEMU 7.2 answers E22 above
// 2048 bytes (half its 4096-byte buffer, which the hex reply must fit).
const maxReadChunk = 2048

func (c *Client) readChunk() int { return min(maxReadChunk, c.packetSize/2) }

// writeChunk is the largest "M" data length at addr that fits the stub's
// buffer: QEMU keeps at most PacketSize-1 bytes of a packet and drops a
// longer one without any reply (measured: "M200000,7f9:" and 2041 bytes of
// hex is the largest it answers with a 4096-byte PacketSize).
func (c *Client) writeChunk(addr uint64, remaining int) int {
	header := len("M,:") + hexLen(addr) + hexLen(uint64(remaining))
	n := (c.packetSize - 1 - header) / 2
	return max(0, min(n, remaining))
}

func hexLen(v uint64) int { return max(1, (bits.Len64(v)+3)/4) }

// checkRange rejects a span that wraps past the top of the address space.
func checkRange(addr uint64, n int) error {
	if n > 0 && addr+uint64(n-1) < addr {
		return fmt.Errorf("gdbstub: %d bytes at %#x wrap around the address space", n, addr)
	}
	return nil
}

// ReadMemory reads len(p) bytes at addr as vCPU th sees them: "m" uses
// the selected vCPU's page tables (virtual mode) or guest-physical
// addresses (physical mode, see ReadPhysical). A zero th skips "Hg" and
// reads through the vCPU the stub has selected (the one that stopped
// last). Chunks of at most 2048 bytes are pipelined. n counts the bytes
// read before the first failed chunk, which err (a *MemoryError) names.
func (c *Client) ReadMemory(ctx context.Context, th ThreadID, addr uint64, p []byte) (int, error) {
	return c.readMemory(ctx, th, addr, p, nil)
}

// WriteMemory writes data at addr as vCPU th sees it, in "M" chunks sized
// so the stub answers every one. Writes go through QEMU, so TCG's
// translated code and dirty tracking see them.
func (c *Client) WriteMemory(ctx context.Context, th ThreadID, addr uint64, data []byte) (int, error) {
	return c.writeMemory(ctx, th, addr, data, nil)
}

// modeSwitch wraps requests in a switch to physical mode and back.
type modeSwitch struct {
	enter, leave *request
}

func (c *Client) readMemory(ctx context.Context, th ThreadID, addr uint64, p []byte, mode *modeSwitch) (int, error) {
	if err := checkRange(addr, len(p)); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	chunk := c.readChunk()
	var reads []*request
	for off := 0; off < len(p); off += chunk {
		n := min(chunk, len(p)-off)
		reads = append(reads, req("m%x,%x", addr+uint64(off), n))
	}
	if err := c.memBatch(ctx, th, mode, reads); err != nil {
		return 0, err
	}
	for i, r := range reads {
		off := i * chunk
		dst := p[off:min(off+chunk, len(p))]
		data, err := replyData(r)
		if err == nil && !decodeHex(dst, data, nil) {
			err = protocolErr("m reply of %d hex digits for %d bytes", len(data), len(dst))
		}
		if err != nil {
			return off, &MemoryError{Op: "read", Addr: addr + uint64(off), Len: len(dst), Err: err}
		}
	}
	return len(p), nil
}

func (c *Client) writeMemory(ctx context.Context, th ThreadID, addr uint64, data []byte, mode *modeSwitch) (int, error) {
	if err := checkRange(addr, len(data)); err != nil {
		return 0, err
	}
	if len(data) == 0 {
		return 0, nil
	}
	var writes []*request
	var offs []int
	for off := 0; off < len(data); {
		a := addr + uint64(off)
		n := c.writeChunk(a, len(data)-off)
		if n == 0 {
			return 0, ErrPacketTooLarge
		}
		writes = append(writes, &request{payload: appendHex(fmt.Appendf(nil, "M%x,%x:", a, n), data[off:off+n])})
		offs = append(offs, off)
		off += n
	}
	if err := c.memBatch(ctx, th, mode, writes); err != nil {
		return 0, err
	}
	for i, r := range writes {
		if err := checkOK(r); err != nil {
			end := len(data)
			if i+1 < len(offs) {
				end = offs[i+1]
			}
			return offs[i], &MemoryError{Op: "write", Addr: addr + uint64(offs[i]), Len: end - offs[i], Err: err}
		}
	}
	return len(data), nil
}

// memBatch sends memory requests as one batch, behind "Hg" when th is
// given and inside the mode switch when there is one, so no other caller's
// packet can run in between on the wrong vCPU or in the wrong mode. If the
// "Hg" or the switch into physical mode failed, the data requests ran in
// the wrong context and the whole access fails.
func (c *Client) memBatch(ctx context.Context, th ThreadID, mode *modeSwitch, body []*request) error {
	var all []*request
	var hg *request
	if !th.IsZero() {
		hg = selectThread(th)
		all = append(all, hg)
	}
	if mode != nil && mode.enter != nil {
		all = append(all, mode.enter)
	}
	all = append(all, body...)
	if mode != nil && mode.leave != nil {
		all = append(all, mode.leave)
	}
	if err := c.e.do(ctx, newBatch(ctx, all...)); err != nil {
		return err
	}
	var errs []error
	if hg != nil {
		if err := checkOK(hg); err != nil {
			errs = append(errs, fmt.Errorf("gdbstub: selecting vCPU %v: %w", th, err))
		}
	}
	if mode != nil && mode.enter != nil {
		if err := checkOK(mode.enter); err != nil {
			errs = append(errs, fmt.Errorf("gdbstub: entering physical mode: %w", err))
		}
	}
	if mode != nil && mode.leave != nil {
		if err := checkOK(mode.leave); err != nil {
			errs = append(errs, fmt.Errorf("gdbstub: restoring the memory mode: %w", err))
		}
	}
	return errors.Join(errs...)
}
