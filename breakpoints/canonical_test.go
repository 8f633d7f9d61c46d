package breakpoints

import (
	"errors"
	"testing"
)

func TestCheckCanonical(t *testing.T) {
	for _, c := range []struct {
		addr uint64
		ok   bool
	}{
		{0, true},
		{0x00007fffffffffff, true},
		{0xffff800000000000, true},
		{0xfffff80000001000, true},
		{0xffffffffffffffff, true},
		{0x0000800000000000, false},
		{0x8000000000000000, false},
		{0xfff7f80000001000, false},
		{0x00ff000000000000, false},
	} {
		err := CheckCanonical(c.addr)
		if c.ok != (err == nil) {
			t.Errorf("CheckCanonical(%#x) = %v, want ok=%v", c.addr, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrNonCanonical) {
			t.Errorf("CheckCanonical(%#x) = %v, does not match ErrNonCanonical", c.addr, err)
		}
	}
}
