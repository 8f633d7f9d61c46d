package isf

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a small JSON reader over a byte slice. ISF files are large
// (6 MB for one kernel) and regular, and decoding them straight into the
// model through this, rather than through encoding/json's reflection and
// an intermediate tree, roughly halves load time. It accepts exactly
// RFC 8259 JSON; the first error stops it.
type scanner struct {
	b     []byte
	p     int
	depth int
	err   error
}

// maxNesting bounds object and array nesting.
const maxNesting = 128

func (s *scanner) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("offset %d: %s", s.p, fmt.Sprintf(format, args...))
	}
}

func (s *scanner) ws() {
	for s.p < len(s.b) {
		switch s.b[s.p] {
		case ' ', '\t', '\n', '\r':
			s.p++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.p < len(s.b) {
		return s.b[s.p]
	}
	return 0
}

func (s *scanner) expect(c byte) bool {
	if s.err != nil {
		return false
	}
	if s.peek() != c {
		s.fail("want %q", c)
		return false
	}
	s.p++
	return true
}

// object calls member for each key of an object; member must consume the
// value. Iteration stops at the first error.
func (s *scanner) object(member func(key []byte)) {
	if !s.expect('{') {
		return
	}
	if s.depth++; s.depth > maxNesting {
		s.fail("nested deeper than %d", maxNesting)
		return
	}
	defer func() { s.depth-- }()
	if s.peek() == '}' {
		s.p++
		return
	}
	for s.err == nil {
		key := s.rawString()
		if !s.expect(':') {
			return
		}
		member(key)
		if s.err != nil {
			return
		}
		switch s.peek() {
		case ',':
			s.p++
		case '}':
			s.p++
			return
		default:
			s.fail("want ',' or '}'")
		}
	}
}

// rawString reads a string and returns its decoded bytes. Without escapes
// the result aliases the input: copy it (string()) to keep it.
func (s *scanner) rawString() []byte {
	if !s.expect('"') {
		return nil
	}
	start := s.p
	for s.p < len(s.b) {
		c := s.b[s.p]
		switch {
		case c == '"':
			s.p++
			return s.b[start : s.p-1]
		case c == '\\':
			return s.escapedString(start)
		case c < 0x20:
			s.fail("control character in a string")
			return nil
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(s.b[s.p:])
			if r == utf8.RuneError && n == 1 {
				s.fail("invalid UTF-8 in a string")
				return nil
			}
			s.p += n
		default:
			s.p++
		}
	}
	s.fail("unterminated string")
	return nil
}

func (s *scanner) escapedString(start int) []byte {
	out := append([]byte(nil), s.b[start:s.p]...)
	for s.p < len(s.b) {
		c := s.b[s.p]
		switch {
		case c == '"':
			s.p++
			return out
		case c < 0x20:
			s.fail("control character in a string")
			return nil
		case c != '\\':
			r, n := utf8.DecodeRune(s.b[s.p:])
			if r == utf8.RuneError && n == 1 {
				s.fail("invalid UTF-8 in a string")
				return nil
			}
			out = append(out, s.b[s.p:s.p+n]...)
			s.p += n
			continue
		}
		if s.p+1 >= len(s.b) {
			break
		}
		e := s.b[s.p+1]
		s.p += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if s.p+1 < len(s.b) && s.b[s.p] == '\\' && s.b[s.p+1] == 'u' {
					s.p += 2
					if r2, ok = s.hex4(); !ok {
						return nil
					}
				}
				r = utf16.DecodeRune(r, r2)
			}
			out = utf8.AppendRune(out, r)
		default:
			s.fail("bad escape \\%c", e)
			return nil
		}
	}
	s.fail("unterminated string")
	return nil
}

func (s *scanner) hex4() (rune, bool) {
	if s.p+4 > len(s.b) {
		s.fail("short \\u escape")
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[s.p:s.p+4]), 16, 16)
	if err != nil {
		s.fail("bad \\u escape")
		return 0, false
	}
	s.p += 4
	return rune(v), true
}

// str reads a string into a Go string, sharing common ones.
func (s *scanner) str(intern map[string]string) string {
	b := s.rawString()
	if v, ok := intern[string(b)]; ok {
		return v
	}
	v := string(b)
	if intern != nil && len(intern) < 1<<16 {
		intern[v] = v
	}
	return v
}

// number returns the text of a number after checking its grammar.
func (s *scanner) number() []byte {
	if s.err != nil {
		return nil
	}
	s.ws()
	start := s.p
	if s.p < len(s.b) && s.b[s.p] == '-' {
		s.p++
	}
	digits := func() int {
		n := 0
		for s.p < len(s.b) && s.b[s.p] >= '0' && s.b[s.p] <= '9' {
			s.p++
			n++
		}
		return n
	}
	intStart := s.p
	if n := digits(); n == 0 || (n > 1 && s.b[intStart] == '0') {
		s.fail("bad number")
		return nil
	}
	if s.p < len(s.b) && s.b[s.p] == '.' {
		s.p++
		if digits() == 0 {
			s.fail("bad number")
			return nil
		}
	}
	if s.p < len(s.b) && (s.b[s.p] == 'e' || s.b[s.p] == 'E') {
		s.p++
		if s.p < len(s.b) && (s.b[s.p] == '+' || s.b[s.p] == '-') {
			s.p++
		}
		if digits() == 0 {
			s.fail("bad number")
			return nil
		}
	}
	return s.b[start:s.p]
}

// uint reads a non-negative integer.
func (s *scanner) uint(what string) uint64 {
	n := s.number()
	if s.err != nil {
		return 0
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		s.fail("%s: %q is not an unsigned integer", what, n)
	}
	return v
}

func (s *scanner) boolean() bool {
	if s.err != nil {
		return false
	}
	s.ws()
	switch {
	case bytes.HasPrefix(s.b[s.p:], []byte("true")):
		s.p += 4
		return true
	case bytes.HasPrefix(s.b[s.p:], []byte("false")):
		s.p += 5
		return false
	}
	s.fail("want true or false")
	return false
}

// skip steps over any value.
func (s *scanner) skip() {
	switch s.peek() {
	case '{':
		s.object(func([]byte) { s.skip() })
	case '[':
		s.array(func() { s.skip() })
	case '"':
		s.rawString()
	case 't', 'f':
		s.boolean()
	case 'n':
		if bytes.HasPrefix(s.b[s.p:], []byte("null")) {
			s.p += 4
		} else {
			s.fail("bad literal")
		}
	default:
		s.number()
	}
}

func (s *scanner) array(elem func()) {
	if !s.expect('[') {
		return
	}
	if s.depth++; s.depth > maxNesting {
		s.fail("nested deeper than %d", maxNesting)
		return
	}
	defer func() { s.depth-- }()
	if s.peek() == ']' {
		s.p++
		return
	}
	for s.err == nil {
		elem()
		if s.err != nil {
			return
		}
		switch s.peek() {
		case ',':
			s.p++
		case ']':
			s.p++
			return
		default:
			s.fail("want ',' or ']'")
		}
	}
}

// end checks that nothing but space follows the top-level value.
func (s *scanner) end() {
	if s.err == nil {
		if s.ws(); s.p != len(s.b) {
			s.fail("data after the top-level value")
		}
	}
}
