package nt

import (
	"encoding/binary"

	"github.com/frostvmi/frost/symbols"
)

// maxThreadIdentities bounds a subscription's identity cache: a guest with more
// busy threads than this only pays the full reads again.
const maxThreadIdentities = 512

// ThreadIdentities remembers who each thread seen at a breakpoint is (tid,
// pid and the owner's EPROCESS), so a hit reads two small members to
// confirm it instead of the whole ETHREAD and a walk of the process list.
// One per subscription; not for concurrent use.
type ThreadIdentities struct {
	k *Kernel // the kernel the members below come from
	// ok says the members were found; without them every hit takes the
	// full reads, as before the cache.
	ok                    bool
	tid, pid, processPID  symbols.Field // _ETHREAD.Cid.*, _EPROCESS.UniqueProcessId
	cidLo, cidLen         uint64        // the one span of the ETHREAD holding both Cid members
	byThread              map[uint64]threadIdentity
	limit                 int    // entries at most; 0 means maxThreadIdentities
	hits, misses, refused uint64 // how lookups went (Stats)
}

type threadIdentity struct {
	tid, pid uint64
	proc     Process
}

// Reset forgets every thread: after a guest reset or shutdown an ETHREAD
// address may hold another thread, and a new kernel has other members.
func (c *ThreadIdentities) Reset() { clear(c.byThread) }

// use binds the cache to k, dropping what another kernel taught it.
func (c *ThreadIdentities) use(k *Kernel) {
	if c.k == k {
		return
	}
	c.k, c.ok = k, false
	c.Reset()
	if c.byThread == nil {
		c.byThread = make(map[uint64]threadIdentity)
	}
	sym := k.Symbols()
	var err error
	if c.tid, err = sym.Field("_ETHREAD.Cid.UniqueThread"); err != nil {
		return
	}
	if c.pid, err = sym.Field("_ETHREAD.Cid.UniqueProcess"); err != nil {
		return
	}
	if c.processPID, err = sym.Field("_EPROCESS.UniqueProcessId"); err != nil {
		return
	}
	lo, hi := min(c.tid.Offset, c.pid.Offset), max(c.tid.Offset+c.tid.Size, c.pid.Offset+c.pid.Size)
	// A CLIENT_ID is two adjacent pointers; anything else (or a member
	// wider than a uint64) is a layout this shortcut does not assume.
	if hi-lo > 32 || c.tid.Size > 8 || c.pid.Size > 8 || c.processPID.Size > 8 {
		return
	}
	c.cidLo, c.cidLen, c.ok = lo, hi-lo, true
}

// NewThreadIdentities makes a cache of at most limit threads (0: 512).
func NewThreadIdentities(limit int) *ThreadIdentities { return &ThreadIdentities{limit: limit} }

// Stats says how lookups went: confirmed from the cache, read whole, and
// refused (a cached thread whose Cid or process changed).
func (c *ThreadIdentities) Stats() (hits, misses, refused uint64) { return c.hits, c.misses, c.refused }

// Len is how many threads are cached.
func (c *ThreadIdentities) Len() int { return len(c.byThread) }

// Thread names the thread at ethread and its process. The process is nil
// when only the thread could be read (then nothing is cached).
func (c *ThreadIdentities) Thread(k *Kernel, ethread uint64) (tid, pid uint64, proc *Process, err error) {
	c.use(k)
	if e, found := c.byThread[ethread]; found {
		if c.confirm(ethread, e) {
			c.hits++
			return e.tid, e.pid, &e.proc, nil
		}
		c.refused++
		delete(c.byThread, ethread)
	}
	c.misses++
	th, err := k.ThreadAt(ethread)
	if err != nil {
		return 0, 0, nil, err
	}
	p, err := c.owner(k, th)
	if err != nil {
		return th.TID, th.PID, nil, nil
	}
	if c.ok {
		limit := c.limit
		if limit <= 0 {
			limit = maxThreadIdentities
		}
		if len(c.byThread) >= limit {
			c.Reset()
		}
		c.byThread[ethread] = threadIdentity{tid: th.TID, pid: th.PID, proc: p}
	}
	return th.TID, th.PID, &p, nil
}

// owner reads the thread's own EPROCESS; a pointer that does not lead to
// the process its Cid names (a thread being torn down) falls back to the
// search by pid.
func (c *ThreadIdentities) owner(k *Kernel, th Thread) (Process, error) {
	if th.Process != 0 {
		if p, err := k.ProcessAt(th.Process); err == nil && p.PID == th.PID {
			return p, nil
		}
	}
	return k.ProcessByPID(th.PID)
}

// confirm re-reads the thread's Cid and its process's UniqueProcessId: a
// thread that exited and whose ETHREAD now holds another thread has
// another Cid, and a process gone has another (or no) id at its EPROCESS.
// What this misses is an ETHREAD and an EPROCESS both freed and reused with
// the very same ids; a reset or shutdown drops every entry.
func (c *ThreadIdentities) confirm(ethread uint64, e threadIdentity) bool {
	var buf [32]byte
	cid := buf[:c.cidLen]
	if c.k.ReadVirtual(c.k.DTB(), ethread+c.cidLo, cid) != nil {
		return false
	}
	if cidMember(cid, c.tid, c.cidLo) != e.tid || cidMember(cid, c.pid, c.cidLo) != e.pid {
		return false
	}
	pid := buf[:c.processPID.Size]
	if c.k.ReadVirtual(c.k.DTB(), e.proc.EPROCESS+c.processPID.Offset, pid) != nil {
		return false
	}
	return cidMember(pid, c.processPID, c.processPID.Offset) == e.pid
}

// cidMember extracts f from raw, a read that began at offset base.
func cidMember(raw []byte, f symbols.Field, base uint64) uint64 {
	var b [8]byte
	copy(b[:], raw[f.Offset-base:f.Offset-base+f.Size])
	return f.Extract(binary.LittleEndian.Uint64(b[:]))
}
