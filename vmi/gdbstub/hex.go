package gdbstub

import (
	"strconv"
)

const hexDigits = "0123456789abcdef"

// hexValue maps a byte to its value as a hex digit (either case), or to
// notHex. A table, not a switch: every stop's register file and every
// memory reply goes through it byte by byte, and the branches of a switch
// on data this varied cost several times the lookup.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = notHex
	}
	for i := range byte(10) {
		t['0'+i] = i
	}
	for i := range byte(6) {
		t['a'+i], t['A'+i] = 10+i, 10+i
	}
	return t
}()

// notHex marks a byte that is no hex digit; any value above 0xf would do.
const notHex = 0xff

func unhex(c byte) (byte, bool) {
	v := hexValue[c]
	return v, v != notHex
}

func parseHexByte(hi, lo byte) (byte, bool) {
	h, ok1 := unhex(hi)
	l, ok2 := unhex(lo)
	return h<<4 | l, ok1 && ok2
}

// appendHex appends b as lower-case hex digits.
func appendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

// decodeHex decodes hex digits into dst, which must be half as long as s.
// "xx" marks a byte the stub cannot supply; those are reported in
// unavailable (when non-nil) and left zero.
func decodeHex(dst []byte, s []byte, unavailable []bool) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, lo := s[2*i], s[2*i+1]
		h, l := hexValue[hi], hexValue[lo]
		if h|l > 0xf {
			// Not two digits: "xx" (when the caller takes it) or bad.
			if hi == 'x' && lo == 'x' && unavailable != nil {
				dst[i] = 0
				unavailable[i] = true
				continue
			}
			return false
		}
		dst[i] = h<<4 | l
	}
	return true
}

// parseHexUint parses a hex number as the stub prints addresses and
// thread ids: no prefix, any case. An optional "0x" is accepted because
// QEMU prints qqemu.sstep that way.
func parseHexUint(s string) (uint64, bool) {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if s == "" || len(s) > 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 64)
	return v, err == nil
}

// parseErrorReply recognizes "Enn".
func parseErrorReply(reply []byte) (code string, ok bool) {
	if len(reply) != 3 || reply[0] != 'E' {
		return "", false
	}
	if _, ok := parseHexByte(reply[1], reply[2]); !ok {
		return "", false
	}
	return string(reply[1:]), true
}
