package physmem

// BytesRead is how many bytes reads have returned so far (ReadPhysical
// and ReadAt, whatever the backend), for metrics.
func (m *Memory) BytesRead() uint64 { return m.served.Load() }
