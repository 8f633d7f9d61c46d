package api

import "testing"

// A pid past 32 bits must not become a small, real-looking one.
func TestCID32NeverAliases(t *testing.T) {
	for _, c := range []struct {
		in   uint64
		want uint32
	}{
		{0, 0}, {4, 4}, {88, 88}, {0xFFFFFFFC, 0xFFFFFFFC},
		{1<<32 + 88, notACID}, {^uint64(0), notACID},
	} {
		if got := cid32(c.in); got != c.want {
			t.Errorf("cid32(%#x) = %#x, want %#x", c.in, got, c.want)
		}
	}
}
