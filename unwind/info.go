package unwind

import "encoding/binary"

// UNWIND_INFO flags (the high five bits of its first byte).
const (
	flagEHandler  = 0x1 // an exception handler follows the codes
	flagUHandler  = 0x2 // a termination handler follows the codes
	flagChainInfo = 0x4 // a RUNTIME_FUNCTION of the primary function follows the codes
)

// Unwind operation codes (UWOP_*).
const (
	opPushNonvol    = 0
	opAllocLarge    = 1
	opAllocSmall    = 2
	opSetFPReg      = 3
	opSaveNonvol    = 4
	opSaveNonvolFar = 5
	opEpilog        = 6 // version 2's epilogue descriptor; SAVE_XMM in early version 1 data
	opSpareCode     = 7 // unused; SAVE_XMM_FAR in early version 1 data
	opSaveXMM128    = 8
	opSaveXMM128Far = 9
	opPushMachframe = 10
)

const (
	// maxChain bounds the chained UNWIND_INFOs followed from one function:
	// compilers chain one or two levels; a longer chain in guest memory is
	// a loop or garbage.
	maxChain = 32
	// infoMax is the largest UNWIND_INFO read: the header, 255 codes
	// padded to an even count, and a chained RUNTIME_FUNCTION.
	infoMax = 4 + 2*256 + 12
)

// info is one decoded UNWIND_INFO. codes aliases the Unwinder's buffer,
// so an info is valid until the next read into it.
type info struct {
	addr       uint64 // where it was read, for errors
	version    uint8
	flags      uint8
	prologSize uint8
	count      uint8 // slots
	frameReg   uint8
	frameOff   uint8 // scaled by 16 when used
	codes      []byte
	// setFP is the CodeOffset of the UWOP_SET_FPREG code, -1 if none.
	setFP int
	// machine says the codes hold a UWOP_PUSH_MACHFRAME (necessarily the
	// last code: the processor pushed it before the first instruction).
	machine bool
	chained Function // when flags has flagChainInfo
	handler uint32   // when flags has a handler bit
}

// slots is the number of UNWIND_CODE slots an operation occupies, 0 for
// an operation that does not exist.
func slots(op, opInfo uint8) int {
	switch op {
	case opPushNonvol, opAllocSmall, opSetFPReg, opPushMachframe:
		return 1
	case opAllocLarge:
		switch opInfo {
		case 0:
			return 2
		case 1:
			return 3
		}
		return 0
	case opSaveNonvol, opEpilog, opSaveXMM128:
		return 2
	case opSaveNonvolFar, opSpareCode, opSaveXMM128Far:
		return 3
	}
	return 0
}

// readInfo reads and checks the UNWIND_INFO of fn (whose UnwindData is
// already resolved, not indirect). Every structural rule is checked here,
// before any code is applied, so a malformed info never half-unwinds.
func (u *Unwinder) readInfo(mem Memory, fn Function) (info, error) {
	addr := fn.ImageBase + uint64(fn.UnwindData)
	if fn.UnwindData&3 != 0 {
		return info{}, formatErr(addr, "UNWIND_INFO at RVA %#x is not DWORD aligned", fn.UnwindData)
	}
	hdr := u.buf[:4]
	if err := u.read(mem, hdr, addr, "UNWIND_INFO header"); err != nil {
		return info{}, err
	}
	in := info{
		addr:       addr,
		version:    hdr[0] & 7,
		flags:      hdr[0] >> 3,
		prologSize: hdr[1],
		count:      hdr[2],
		frameReg:   hdr[3] & 0xf,
		frameOff:   hdr[3] >> 4,
		setFP:      -1,
	}
	if in.version != 1 && in.version != 2 {
		return info{}, formatErr(addr, "version %d (1 and 2 exist)", in.version)
	}
	if in.flags&flagChainInfo != 0 && in.flags&(flagEHandler|flagUHandler) != 0 {
		// The handler RVA and the chained entry share the same place.
		return info{}, formatErr(addr, "flags %#x: chained info cannot also name a handler", in.flags)
	}
	// The code array is padded to an even number of slots; what follows
	// it (handler RVA or chained entry) starts there.
	codeBytes := 2 * int(in.count)
	tail := 4 + 2*((int(in.count)+1)&^1)
	n := 4 + codeBytes
	switch {
	case in.flags&flagChainInfo != 0:
		n = tail + 12
	case in.flags&(flagEHandler|flagUHandler) != 0:
		n = tail + 4
	}
	if n > 4 {
		if err := u.read(mem, u.buf[4:n], addr+4, "UNWIND_INFO codes"); err != nil {
			return info{}, err
		}
	}
	in.codes = u.buf[4 : 4+codeBytes]
	if in.flags&flagChainInfo != 0 {
		t := u.buf[tail:]
		in.chained = Function{
			ImageBase:  fn.ImageBase,
			Begin:      binary.LittleEndian.Uint32(t),
			End:        binary.LittleEndian.Uint32(t[4:]),
			UnwindData: binary.LittleEndian.Uint32(t[8:]),
		}
		if in.chained.Begin >= in.chained.End {
			return info{}, formatErr(addr, "chained function [%#x, %#x) is empty", in.chained.Begin, in.chained.End)
		}
	} else if in.flags&(flagEHandler|flagUHandler) != 0 {
		in.handler = binary.LittleEndian.Uint32(u.buf[tail:])
	}
	return in, in.check()
}

// check walks the codes once for their structure: every operation known,
// none running past CountOfCodes, the registers they name possible.
func (in *info) check() error {
	for i := 0; i < int(in.count); {
		off, op, opInfo := in.code(i)
		n := slots(op, opInfo)
		if n == 0 {
			if op == opAllocLarge {
				return formatErr(in.addr, "code %d: UWOP_ALLOC_LARGE with OpInfo %d (0 or 1 exist)", i, opInfo)
			}
			return formatErr(in.addr, "code %d: unknown operation %d", i, op)
		}
		if i+n > int(in.count) {
			return formatErr(in.addr, "code %d: operation %d needs %d slots, only %d of %d remain", i, op, n, int(in.count)-i, in.count)
		}
		if in.machine {
			return formatErr(in.addr, "code %d: follows UWOP_PUSH_MACHFRAME, which must be the first operation of the prologue", i)
		}
		switch op {
		case opPushNonvol, opSaveNonvol, opSaveNonvolFar:
			if opInfo == RSP {
				return formatErr(in.addr, "code %d: operation %d saves rsp", i, op)
			}
		case opSetFPReg:
			if in.frameReg == 0 {
				return formatErr(in.addr, "code %d: UWOP_SET_FPREG with no frame register", i)
			}
			if in.setFP >= 0 {
				return formatErr(in.addr, "code %d: a second UWOP_SET_FPREG", i)
			}
			in.setFP = int(off)
		case opPushMachframe:
			if opInfo > 1 {
				return formatErr(in.addr, "code %d: UWOP_PUSH_MACHFRAME with OpInfo %d (0 or 1 exist)", i, opInfo)
			}
			if in.flags&flagChainInfo != 0 {
				// The chained primary's codes would apply to the
				// interrupted context.
				return formatErr(in.addr, "code %d: UWOP_PUSH_MACHFRAME in chained unwind info", i)
			}
			in.machine = true
		}
		i += n
	}
	if in.frameReg == RSP {
		return formatErr(in.addr, "frame register rsp")
	}
	return nil
}

// code decodes slot i as an operation.
func (in *info) code(i int) (offset, op, opInfo uint8) {
	return in.codes[2*i], in.codes[2*i+1] & 0xf, in.codes[2*i+1] >> 4
}

// slot is slot i as a raw 16-bit value (the operand slots).
func (in *info) slot(i int) uint32 {
	return uint32(binary.LittleEndian.Uint16(in.codes[2*i:]))
}
