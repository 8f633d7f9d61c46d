package gdbstub

import (
	"strconv"
	"testing"
)

// TestDecodeHexEveryPair: every pair of bytes decodes as strconv reads a
// two-digit hex number (either case), "xx" is unavailable only when the
// caller takes unavailable bytes, and anything else is refused.
func TestDecodeHexEveryPair(t *testing.T) {
	for hi := range 256 {
		for lo := range 256 {
			pair := []byte{byte(hi), byte(lo)}
			want, err := strconv.ParseUint(string(pair), 16, 8)
			isHex := err == nil && pair[0] != '+' && pair[0] != '-' && pair[0] != '_' && pair[1] != '_'
			xx := hi == 'x' && lo == 'x'
			for _, takesXX := range []bool{false, true} {
				var dst [1]byte
				var unavailable []bool
				if takesXX {
					unavailable = make([]bool, 1)
				}
				dst[0] = 0x5a
				ok := decodeHex(dst[:], pair, unavailable)
				switch {
				case isHex:
					if !ok || dst[0] != byte(want) || (takesXX && unavailable[0]) {
						t.Fatalf("%q: ok %v, %#x; want %#x", pair, ok, dst[0], want)
					}
				case xx && takesXX:
					if !ok || dst[0] != 0 || !unavailable[0] {
						t.Fatalf("%q with unavailable: ok %v, %#x, unavailable %v", pair, ok, dst[0], unavailable[0])
					}
				default:
					if ok {
						t.Fatalf("%q (takes xx %v) decoded to %#x", pair, takesXX, dst[0])
					}
				}
				if v, ok := parseHexByte(pair[0], pair[1]); ok != isHex || (ok && v != byte(want)) {
					t.Fatalf("parseHexByte(%q) = %#x, %v", pair, v, ok)
				}
			}
		}
	}
	if decodeHex(make([]byte, 2), []byte("abc"), nil) {
		t.Error("3 digits decoded into 2 bytes")
	}
}
