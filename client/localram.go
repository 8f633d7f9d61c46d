package client

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// refusedRetry is how long a refusal (VM not attached, RAM not
// shareable, no side socket) stands before the side socket is asked
// again: a VM attached later gets its mapping without a new Client.
const refusedRetry = 5 * time.Second

// ram returns vm's mapping, asking frostd (and rechecking an old one)
// when due; nil means read over gRPC.
func (c *Client) ram(ctx context.Context, vm string) *vmRAM {
	if c.memSock == "" {
		return nil
	}
	now := c.now()
	c.mu.Lock()
	r := c.rams[vm]
	c.mu.Unlock()
	if r != nil {
		wait := c.opt.mapRecheck
		if r.refused != nil {
			wait = refusedRetry
		}
		if r.age(now) < wait {
			if r.refused != nil {
				return nil
			}
			return r
		}
	}
	nr := c.fetchRAM(ctx, vm, r, now)
	c.mu.Lock()
	if cur := c.rams[vm]; cur != r {
		// Another reader refreshed it meanwhile; keep theirs.
		c.mu.Unlock()
		if nr != r {
			nr.close()
		}
		if cur == nil || cur.refused != nil {
			return nil // closed meanwhile, or refused
		}
		return cur
	}
	c.rams[vm] = nr
	c.mu.Unlock()
	if r != nil && nr != r {
		r.close()
	}
	if nr.refused != nil {
		return nil
	}
	return nr
}

// fetchRAM asks the side socket for vm's RAM. When old maps the same file
// it is kept (only its map and check time change), so readers keep their
// mapping; otherwise a new one is made, or a refusal recorded.
func (c *Client) fetchRAM(ctx context.Context, vm string, old *vmRAM, now time.Time) *vmRAM {
	f, rep, err := askRAM(ctx, c.memSock, vm)
	if err != nil {
		return refusal(err, now)
	}
	defer f.Close()
	if ranges, err := mapRAMRanges(rep); err == nil && old != nil && old.refused == nil && rep.Size == old.size && sameFile(f, old) {
		old.mu.Lock()
		old.ranges = ranges
		old.checked.Store(now.UnixNano())
		old.mu.Unlock()
		return old
	}
	r, err := mapRAM(f, rep)
	if err != nil {
		return refusal(err, now)
	}
	r.checked.Store(now.UnixNano())
	return r
}

func sameFile(f *os.File, r *vmRAM) bool {
	st, err := f.Stat()
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && uint64(sys.Dev) == r.dev && sys.Ino == r.ino
}

// LocalMemory says whether reads of vm go through a local mapping, and if
// not, why (a *RefusedError from frostd, the side socket missing, or
// errRemote for a TCP connection).
func (c *Client) LocalMemory(ctx context.Context, vm string) error {
	if c.memSock == "" {
		return ErrRemote
	}
	if c.ram(ctx, vm) != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.rams[vm]; r != nil && r.refused != nil {
		return r.refused
	}
	return errUnmapped
}

// ErrRemote: the client reads over gRPC only (a TCP connection, or
// WithoutLocalMemory), so guest RAM is never mapped locally.
var ErrRemote = errors.New("client: not a local connection with local memory: every read goes over gRPC")
