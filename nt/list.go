package nt

import "fmt"

// walkList follows a LIST_ENTRY ring from its head and calls fn with the
// address of each entry's link (not of the structure holding it). It stops
// at the head, and fails on a cycle that misses the head, a null or
// non-canonical link, or more than max entries.
func (k *Kernel) walkList(what string, dtb, head uint64, max int, fn func(link uint64) error) error {
	flinkOff, err := k.lay.offset("_LIST_ENTRY.Flink")
	if err != nil {
		return err
	}
	seen := map[uint64]bool{head: true}
	cur, err := k.readU64(what+" Flink", dtb, head+flinkOff)
	if err != nil {
		return err
	}
	for n := 0; cur != head; n++ {
		if n >= max {
			return &WalkError{What: what, At: cur, Err: ErrTooLong, Msg: fmt.Sprintf("more than %d entries", max)}
		}
		if cur == 0 || !canonical(cur) {
			return &WalkError{What: what, At: cur, Err: ErrCorrupt, Msg: "link is not a canonical address"}
		}
		if seen[cur] {
			return &WalkError{What: what, At: cur, Err: ErrCycle, Msg: "the list loops without returning to its head"}
		}
		seen[cur] = true
		if err := fn(cur); err != nil {
			return err
		}
		if cur, err = k.readU64(what+" Flink", dtb, cur+flinkOff); err != nil {
			return err
		}
	}
	return nil
}

// canonical reports whether va is a canonical 48-bit x64 address.
func canonical(va uint64) bool {
	top := va >> 47
	return top == 0 || top == 0x1ffff
}
