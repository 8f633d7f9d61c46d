package minidump

import "time"

// timeDate is a time as a 32-bit time_t; 0 for the zero time or one that
// does not fit.
func timeDate(t time.Time) uint32 {
	if t.IsZero() || t.Unix() < 0 || t.Unix() > 0xffffffff {
		return 0
	}
	return uint32(t.Unix())
}

func (p *Plan) putSystem(b []byte, csd uint32) {
	s := p.d.System
	le.PutUint16(b[0:], processorAMD64)
	le.PutUint16(b[2:], s.ProcessorLevel)
	le.PutUint16(b[4:], s.ProcessorRevision)
	b[6] = s.NumberOfProcessors
	b[7] = productWorkstion
	le.PutUint32(b[8:], s.MajorVersion)
	le.PutUint32(b[12:], s.MinorVersion)
	le.PutUint32(b[16:], s.BuildNumber)
	le.PutUint32(b[20:], platformWin32NT)
	le.PutUint32(b[24:], csd)
	// SuiteMask, Reserved2 and the CPU_INFORMATION union stay 0: Frost
	// does not know the guest's CPUID feature bits.
}

func (p *Plan) putMisc(b []byte) {
	pi := p.d.Process
	flags := uint32(miscProcessID)
	le.PutUint32(b[0:], miscInfoSize)
	le.PutUint32(b[8:], pi.PID)
	if t := timeDate(pi.CreateTime); t != 0 {
		flags |= miscProcessTimes
		le.PutUint32(b[12:], t)
	}
	le.PutUint32(b[4:], flags)
}

// rsdsRecord is a CodeView PDB 7.0 record: "RSDS", GUID, age, UTF-8 name
// with its NUL.
func rsdsRecord(r RSDS) []byte {
	b := make([]byte, 24+len(r.Name)+1)
	le.PutUint32(b[0:], cvRSDS)
	copy(b[4:20], r.GUID[:])
	le.PutUint32(b[20:], r.Age)
	copy(b[24:], r.Name)
	return b
}

func putModule(b []byte, m Module, name, cv, cvSize uint32) {
	le.PutUint64(b[0:], m.Base)
	le.PutUint32(b[8:], m.Size)
	le.PutUint32(b[12:], m.CheckSum)
	le.PutUint32(b[16:], m.TimeDateStamp)
	le.PutUint32(b[20:], name)
	// VS_FIXEDFILEINFO (24..76): only its signature and structure
	// version; Frost does not read version resources.
	le.PutUint32(b[24:], fixedFileInfoSg)
	le.PutUint32(b[28:], 0x00010000)
	le.PutUint32(b[76:], cvSize)
	le.PutUint32(b[80:], cv)
	// MiscRecord and the reserved fields stay 0.
}

func (p *Plan) putThread(b []byte, t Thread, ctx uint32) {
	le.PutUint32(b[0:], t.ID)
	le.PutUint32(b[4:], t.SuspendCount)
	le.PutUint32(b[8:], t.PriorityClass)
	le.PutUint32(b[12:], t.Priority)
	le.PutUint64(b[16:], t.TEB)
	le.PutUint64(b[24:], t.Stack.Base)
	// The stack descriptor's bytes are part of the memory list's: point
	// at them when they are there and a 32-bit RVA can reach them.
	if i := findRange(p.d.Memory, t.Stack); i >= 0 {
		rva := p.rangeRVA[i] + (t.Stack.Base - p.d.Memory[i].Base)
		if fits32(rva+t.Stack.Size) && t.Stack.Size <= 0xffffffff {
			le.PutUint32(b[32:], uint32(t.Stack.Size))
			le.PutUint32(b[36:], uint32(rva))
		}
	}
	le.PutUint32(b[40:], contextSize)
	le.PutUint32(b[44:], ctx)
}

// putContext writes an AMD64 CONTEXT (winnt.h's layout, 0x4d0 bytes).
func putContext(b []byte, c Context) {
	le.PutUint32(b[0x30:], c.Flags|ContextAMD64)
	le.PutUint32(b[0x34:], c.MxCsr)
	le.PutUint16(b[0x38:], c.SegCs)
	le.PutUint16(b[0x3a:], c.SegDs)
	le.PutUint16(b[0x3c:], c.SegEs)
	le.PutUint16(b[0x3e:], c.SegFs)
	le.PutUint16(b[0x40:], c.SegGs)
	le.PutUint16(b[0x42:], c.SegSs)
	le.PutUint32(b[0x44:], c.EFlags)
	for i, v := range []uint64{
		c.Dr0, c.Dr1, c.Dr2, c.Dr3, c.Dr6, c.Dr7,
		c.Rax, c.Rcx, c.Rdx, c.Rbx, c.Rsp, c.Rbp, c.Rsi, c.Rdi,
		c.R8, c.R9, c.R10, c.R11, c.R12, c.R13, c.R14, c.R15, c.Rip,
	} {
		le.PutUint64(b[0x48+8*i:], v)
	}
	// The MXCSR copy in the XMM save area, so a reader that takes it
	// from there agrees.
	le.PutUint32(b[0x100+24:], c.MxCsr)
}
