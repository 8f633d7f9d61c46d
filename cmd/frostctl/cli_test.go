package main

import "testing"

// A size that overflows 64 bits is refused, not wrapped to a small one.
func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{"16": 16, "0x10": 16, "4K": 4 << 10, "2M": 2 << 20, "1G": 1 << 30} {
		if got, err := parseSize("LEN", in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"17179869184G", "0xffffffffffffffffK", "x"} {
		if got, err := parseSize("LEN", in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}
