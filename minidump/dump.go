package minidump

import "time"

// Dump is what a minidump file says about one process. Plan checks it and
// fixes the file's layout; nothing in it is guest memory.
type Dump struct {
	System  SystemInfo
	Process ProcessInfo
	Modules []Module
	Threads []Thread
	// Memory is the process's memory as ascending, non-overlapping
	// ranges. Their bytes are asked for at Write time, in this order.
	Memory []Range
	// Comment is written as a CommentStreamW (UTF-16), which WinDbg prints
	// when it opens the dump. Empty: no comment stream.
	Comment string
	// Time is the header's TimeDateStamp (when the dump was taken).
	Time time.Time
}

// SystemInfo is the SystemInfoStream: an AMD64 Windows NT machine.
type SystemInfo struct {
	// Windows version; BuildNumber 0 when the guest's build is unknown.
	MajorVersion, MinorVersion, BuildNumber uint32
	// NumberOfProcessors is the guest's vCPU count (at most 255).
	NumberOfProcessors uint8
	// ProcessorLevel and ProcessorRevision are CPUID's family and
	// model/stepping, when known.
	ProcessorLevel, ProcessorRevision uint16
}

// ProcessInfo is the MiscInfoStream: the dumped process's id and, when
// known, its creation time.
type ProcessInfo struct {
	PID        uint32
	CreateTime time.Time // zero: not written
}

// Module is one loaded image (MINIDUMP_MODULE).
type Module struct {
	Base uint64
	Size uint32
	// CheckSum and TimeDateStamp are the image's own (its PE optional
	// and file headers), so a symbol server lookup by image works.
	CheckSum, TimeDateStamp uint32
	// Name is the image's path as the process knows it.
	Name string
	// PDB is the CodeView RSDS identity; a zero PDB.Name writes no
	// CvRecord.
	PDB RSDS
}

// RSDS is a CodeView PDB 7.0 record: the identity of an image's PDB.
type RSDS struct {
	GUID [16]byte // as stored in the image (Data1–3 little-endian)
	Age  uint32
	Name string
}

// Thread is one thread (MINIDUMP_THREAD) and its registers.
type Thread struct {
	ID            uint32
	SuspendCount  uint32
	PriorityClass uint32
	Priority      uint32
	TEB           uint64
	// Stack is the range the thread's stack memory descriptor names. It
	// points into the memory list's bytes when it lies inside one Memory
	// range (a debugger finds the stack either way, through the memory
	// list); otherwise only its start is written.
	Stack   Range
	Context Context
}

// Range is a span of the process's virtual memory.
type Range struct {
	Base, Size uint64
}

// End is the first address after r.
func (r Range) End() uint64 { return r.Base + r.Size }

// Context is an AMD64 CONTEXT. Flags says which register groups are
// filled (ContextControl, ContextInteger, ...); ContextAMD64 is always
// added. A register outside the groups in Flags is written as 0 and a
// debugger does not show it.
type Context struct {
	Flags                        uint32
	MxCsr                        uint32
	SegCs, SegDs, SegEs, SegFs   uint16
	SegGs, SegSs                 uint16
	EFlags                       uint32
	Dr0, Dr1, Dr2, Dr3, Dr6, Dr7 uint64
	Rax, Rcx, Rdx, Rbx, Rsp, Rbp uint64
	Rsi, Rdi, R8, R9, R10, R11   uint64
	R12, R13, R14, R15, Rip      uint64
}
