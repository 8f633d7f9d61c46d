package session

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// Streams that send guest memory (StreamPhysical, StreamVirtual, the
// dumps) each hold a few chunks while their client is slow or gone: the
// chunk being read, the message being encoded, the one queued in the
// transport. Unbounded, 500 unread streams took frostd to 4 GB. Streams
// admits each one against a cap per client, a cap in all, and a budget
// of bytes all open streams may hold together, so a client gets
// ResourceExhausted instead of frostd being OOM-killed with the guests it
// holds.

// StreamLimits bound the memory streams hold at once.
type StreamLimits struct {
	PerClient int   // open streams of one client (a uid, a host)
	Total     int   // open streams of all clients
	Bytes     int64 // bytes every open stream may buffer together
}

// DefaultStreamLimits: a client reading a few large ranges at once, a
// handful of clients, well under a gigabyte however they behave.
var DefaultStreamLimits = StreamLimits{PerClient: 16, Total: 64, Bytes: 512 << 20}

// ErrTooManyStreams: a stream over one of the limits.
var ErrTooManyStreams = errors.New("too many streams")

// freeAfter is how many bytes of ended streams make frostd hand memory
// back to the kernel at once, and freeEvery how often at most: Go's
// runtime would keep a burst's heap for minutes on an idle daemon, which
// is then what the operator sees of it.
const (
	freeAfter = 64 << 20
	freeEvery = time.Second
)

// Streams is frostd's account of its open streams.
type Streams struct {
	lim StreamLimits

	mu       sync.Mutex
	byClient map[string]int
	open     int
	bytes    int64
	freed    int64 // bytes of streams ended since the last FreeOSMemory
	lastFree time.Time
	freeing  bool
}

// NewStreams makes an account with lim; zero fields take the defaults.
func NewStreams(lim StreamLimits) *Streams {
	d := DefaultStreamLimits
	if lim.PerClient <= 0 {
		lim.PerClient = d.PerClient
	}
	if lim.Total <= 0 {
		lim.Total = d.Total
	}
	if lim.Bytes <= 0 {
		lim.Bytes = d.Bytes
	}
	return &Streams{lim: lim, byClient: map[string]int{}}
}

// Limits are the limits in force.
func (s *Streams) Limits() StreamLimits { return s.lim }

// Admit opens a stream of client that may buffer up to bytes; release
// (safe to call more than once) ends it. Over a limit it fails with an
// error that wraps ErrTooManyStreams and says which limit.
func (s *Streams) Admit(client string, bytes int64) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.byClient[client] >= s.lim.PerClient:
		return nil, fmt.Errorf("%w: this client has %d open (at most %d per client); finish or cancel one", ErrTooManyStreams, s.byClient[client], s.lim.PerClient)
	case s.open >= s.lim.Total:
		return nil, fmt.Errorf("%w: frostd has %d open (at most %d); try again later", ErrTooManyStreams, s.open, s.lim.Total)
	case s.bytes+bytes > s.lim.Bytes:
		return nil, fmt.Errorf("%w: open streams buffer %d MiB and this one may buffer %d MiB more (at most %d MiB); use a smaller chunk or try again later",
			ErrTooManyStreams, s.bytes>>20, (bytes+1<<20-1)>>20, s.lim.Bytes>>20)
	}
	s.byClient[client]++
	s.open++
	s.bytes += bytes
	var once sync.Once
	return func() { once.Do(func() { s.release(client, bytes) }) }, nil
}

func (s *Streams) release(client string, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byClient[client]--; s.byClient[client] <= 0 {
		delete(s.byClient, client)
	}
	s.open--
	s.bytes -= bytes
	s.freed += bytes
	if s.freed >= freeAfter && !s.freeing {
		// At most one pending: a burst of ends frees once, after
		// the last free by at least freeEvery.
		s.freeing = true
		time.AfterFunc(max(0, freeEvery-time.Since(s.lastFree)), s.freeOS)
	}
}

// freeOS hands the heap that ended streams left back to the kernel.
func (s *Streams) freeOS() {
	s.mu.Lock()
	s.freed = 0
	s.mu.Unlock()
	debug.FreeOSMemory()
	s.mu.Lock()
	s.freeing, s.lastFree = false, time.Now()
	s.mu.Unlock()
}

// Open is how many streams are open, and the bytes they may buffer.
func (s *Streams) Open() (int, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open, s.bytes
}

// Streams is the account every session of this frostd shares, made on
// first use with c.StreamLimits.
func (c *Config) Streams() *Streams {
	sh := c.sharedOf()
	sh.streamsOnce.Do(func() { sh.streams = NewStreams(c.StreamLimits) })
	return sh.streams
}
