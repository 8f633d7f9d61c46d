package nt

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// UnicodeString reads the _UNICODE_STRING at va in dtb's address space
// (a kernel structure, or a user one such as NtCreatePagingFile's
// argument). Length is in bytes and has no NUL; it is checked against
// MaximumLength and Limits.String before anything is read.
func (k *Kernel) UnicodeString(dtb, va uint64) (string, error) {
	o, err := k.readObject("_UNICODE_STRING", dtb, va)
	if err != nil {
		return "", err
	}
	return k.unicodeFrom(dtb, o, "")
}

// unicodeFrom reads the _UNICODE_STRING member at path of o ("" when o is
// the string itself).
func (k *Kernel) unicodeFrom(dtb uint64, o *object, path string) (string, error) {
	prefix := ""
	if path != "" {
		prefix = path + "."
	}
	length, err := o.uint(prefix + "Length")
	if err != nil {
		return "", err
	}
	maxLen, err := o.uintOr(prefix + "MaximumLength")
	if err != nil {
		return "", err
	}
	buf, err := o.uint(prefix + "Buffer")
	if err != nil {
		return "", err
	}
	return k.utf16At(dtb, buf, length, maxLen, o.va)
}

func (k *Kernel) utf16At(dtb, buf, length, maxLen, at uint64) (string, error) {
	if length == 0 {
		return "", nil
	}
	if length%2 != 0 || int(length) > k.limits.String || (maxLen != 0 && length > maxLen) || buf == 0 {
		return "", &WalkError{What: "UNICODE_STRING", At: at, Err: ErrCorrupt,
			Msg: fmt.Sprintf("Length %d, MaximumLength %d, Buffer %#x", length, maxLen, buf)}
	}
	raw := make([]byte, length)
	if err := k.read("UNICODE_STRING buffer", dtb, buf, raw); err != nil {
		return "", err
	}
	u := make([]uint16, length/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return string(utf16.Decode(u)), nil
}
