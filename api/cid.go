package api

import "math"

// notACID is what the API sends for a guest client id (pid or tid) that
// does not fit its 32-bit fields. Windows makes client ids from handle
// table indexes, multiples of 4 well below 2^32, so no real one is
// 0xFFFFFFFF; a larger value comes from a corrupt or hostile guest, and
// cutting it to 32 bits would name another, real-looking process (pid
// 2^32+88 as 88).
const notACID = math.MaxUint32

// cid32 is a guest client id for the API's 32-bit fields.
func cid32(id uint64) uint32 {
	if id > math.MaxUint32 {
		return notACID
	}
	return uint32(id)
}
