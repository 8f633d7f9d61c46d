package nt

import (
	"testing"
	"time"
)

func TestFileTime(t *testing.T) {
	for _, c := range []struct {
		v    uint64
		want time.Time
	}{
		{0, time.Time{}},
		{116444736000000000, time.Unix(0, 0).UTC()}, // the Unix epoch
		{134094960015000001, time.Date(2025, 12, 6, 12, 0, 1, 500000100, time.UTC)},
		{1 << 63, time.Time{}}, // not a time any clock reaches
	} {
		if got := FileTime(c.v); !got.Equal(c.want) {
			t.Errorf("FileTime(%d) = %v, want %v", c.v, got, c.want)
		}
	}
}
