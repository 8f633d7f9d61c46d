package session

import "sync"

// shared is what a frostd's sessions and calls share beyond its
// configuration: the account of open streams, the upload spool. Made on
// first use, so a Config stays a plain literal (and may be copied).
type shared struct {
	streamsOnce sync.Once
	streams     *Streams
	spoolOnce   sync.Once
	spool       *Spool
	spoolErr    error
}

// sharedMu guards only the making of a Config's shared state.
var sharedMu sync.Mutex

func (c *Config) sharedOf() *shared {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if c.shared == nil {
		c.shared = &shared{}
	}
	return c.shared
}
