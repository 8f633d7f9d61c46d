package disk

import (
	"fmt"
)

// FormatError reports a malformed image: what is wrong and where, so a
// broken image produced by the guest can be debugged from the message alone.
type FormatError struct {
	// Offset is the byte offset in the image of the offending field.
	Offset int64
	// What names the structure, e.g. "superblock" or `entry 3 "\x.txt"`.
	What string
	Msg  string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("disk: malformed image: %s at byte %#x: %s", e.What, e.Offset, e.Msg)
}

func formatErr(off int64, what, format string, args ...any) error {
	return &FormatError{Offset: off, What: what, Msg: fmt.Sprintf(format, args...)}
}
