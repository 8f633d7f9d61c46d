package breakpoints

import (
	"errors"
	"fmt"
)

// ErrNonCanonical: the address cannot be executed at all. x86-64 faults
// (#GP) on any access to a non-canonical address, so a breakpoint there
// can never hit; the stub's refusal of it would otherwise surface as a
// hypervisor failure rather than as the caller's mistake.
var ErrNonCanonical = errors.New("breakpoints: non-canonical address")

// canonicalBits is the virtual address width of 4-level paging, which
// Windows uses on every machine Frost meets (5-level paging, LA57, widens
// it to 57; such a guest's upper addresses would be refused here).
const canonicalBits = 48

// NonCanonicalError names the address and the rule.
type NonCanonicalError struct{ Addr uint64 }

func (e *NonCanonicalError) Error() string {
	return fmt.Sprintf("breakpoints: %#x is not a canonical x86-64 address (bits 63-%d must all equal bit %d): no instruction can be there",
		e.Addr, canonicalBits-1, canonicalBits-1)
}

func (e *NonCanonicalError) Is(target error) bool { return target == ErrNonCanonical }

// CheckCanonical refuses an address no code can live at.
func CheckCanonical(addr uint64) error {
	// Sign-extending from bit 47 must give the address back.
	if uint64(int64(addr<<(64-canonicalBits))>>(64-canonicalBits)) != addr {
		return &NonCanonicalError{Addr: addr}
	}
	return nil
}
