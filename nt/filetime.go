package nt

import "time"

// fileTimeEpoch is a FILETIME's zero: 1601-01-01 UTC, in Unix seconds.
const fileTimeEpoch = -11644473600

// FileTime turns a FILETIME (100 ns ticks since 1601-01-01 UTC, as
// KeQuerySystemTime and the CreateTime members hold) into a time. 0 is
// the zero time: "never" in every member that holds one.
func FileTime(v uint64) time.Time {
	if v == 0 || v > 1<<63-1 {
		return time.Time{}
	}
	// Seconds and nanoseconds apart: 400 years of nanoseconds overflow a
	// time.Duration.
	return time.Unix(fileTimeEpoch+int64(v/10_000_000), int64(v%10_000_000)*100).UTC()
}
