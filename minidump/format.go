package minidump

// Values from minidumpapiset.h and winnt.h. They are the file format, not
// a Windows kernel's layout, so they are fixed here.
const (
	signature = 0x504d444d // "MDMP"
	// version is MINIDUMP_VERSION in the low word; the high word is the
	// writer's own and is left 0.
	version = 0xa793

	// Stream types.
	streamThreadList   = 3
	streamModuleList   = 4
	streamSystemInfo   = 7
	streamMemory64List = 9
	streamCommentW     = 11
	streamMiscInfo     = 15

	// Sizes of the fixed records.
	headerSize      = 32
	directorySize   = 12
	systemInfoSize  = 56
	miscInfoSize    = 24
	moduleSize      = 108
	threadSize      = 48
	contextSize     = 0x4d0
	memDesc64Size   = 16
	memory64ListHdr = 16

	// MINIDUMP_TYPE flags saying what the dump holds.
	typeWithFullMemory     = 0x00000002
	typeWithFullMemoryInfo = 0x00000800

	// SystemInfo values.
	processorAMD64   = 9 // PROCESSOR_ARCHITECTURE_AMD64
	platformWin32NT  = 2 // VER_PLATFORM_WIN32_NT
	productWorkstion = 1 // VER_NT_WORKSTATION

	miscProcessID    = 0x1 // MINIDUMP_MISC1_PROCESS_ID
	miscProcessTimes = 0x2 // MINIDUMP_MISC1_PROCESS_TIMES

	cvRSDS          = 0x53445352 // "RSDS", CodeView PDB 7.0
	fixedFileInfoSg = 0xfeef04bd // VS_FIXEDFILEINFO.dwSignature
)

// ContextFlags bits of an AMD64 CONTEXT (winnt.h). Each names a group of
// registers; a dump says in ContextFlags which groups it filled, and a
// debugger shows only those.
const (
	ContextAMD64 uint32 = 0x00100000
	// ContextControl: SegSs, Rsp, SegCs, Rip and EFlags.
	ContextControl = ContextAMD64 | 0x1
	// ContextInteger: Rax, Rcx, Rdx, Rbx, Rbp, Rsi, Rdi, R8–R15.
	ContextInteger = ContextAMD64 | 0x2
	// ContextSegments: SegDs, SegEs, SegFs, SegGs.
	ContextSegments = ContextAMD64 | 0x4
	// ContextDebugRegisters: Dr0–Dr3, Dr6, Dr7.
	ContextDebugRegisters = ContextAMD64 | 0x10
)
