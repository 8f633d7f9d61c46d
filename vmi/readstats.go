package vmi

// ReadStats is what a target's data plane has served: its backend (the
// shared RAM mapping, /proc/<pid>/mem, the gdbstub) and the bytes read.
type ReadStats struct {
	Backend string
	Bytes   uint64
}

// ReadStatser is a Target that counts its reads; the metrics endpoint asks
// for it, and targets without a data plane (fakes) need not implement it.
type ReadStatser interface {
	ReadStats() ReadStats
}

func (g *guest) ReadStats() ReadStats {
	if g.mem == nil {
		return ReadStats{}
	}
	return ReadStats{Backend: g.mem.Kind().String(), Bytes: g.mem.BytesRead()}
}
