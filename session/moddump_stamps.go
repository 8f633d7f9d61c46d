package session

import (
	"github.com/frostvmi/frost/symbols/pe"
)

// imageStamps are an image's CheckSum and TimeDateStamp as its headers in
// memory hold them (0s when they cannot be read): a minidump's module
// record carries them so a symbol server finds the image.
func imageStamps(m pe.Memory, base uint64) (checksum, timestamp uint32) {
	h, err := pe.MappedHeaders(m, base)
	if err != nil {
		return 0, 0
	}
	return h.CheckSum, h.TimeDateStamp
}
