package unwind

import "encoding/binary"

// The unwind codes describe the prologue only. When RIP is inside an
// epilogue that has begun, part of the frame is already gone, so the codes
// would undo it twice; the unwinder instead recognizes the epilogue from
// its instructions and runs the rest of it forward. The x64 conventions
// restrict epilogues to exactly the forms recognized here:
//
//	[add rsp, imm8/imm32 | lea rsp, [framereg + disp8/disp32]]   first, optional
//	pop r64 ...                                                  any number
//	ret | ret imm16 | rep ret | jmp (a tail call)                last
//
// A jmp ends an epilogue only if it leaves the function: jmp rel8/rel32
// to a target outside every fragment of the function, jmp qword ptr
// [rip+disp32] (FF 25), or an indirect jmp with a REX.W prefix (REX.W FF
// /4), which is how compilers mark an indirect tail call apart from a
// switch table's jmp. Anything else means RIP is not in an epilogue.

const (
	maxPops       = 16 // one pop per integer register at most
	codeBlockSize = 16 // code is fetched in aligned blocks, never across a page
)

type adjustKind uint8

const (
	adjustNone adjustKind = iota
	adjustAdd             // add rsp, imm
	adjustLea             // lea rsp, [framereg + disp]
)

type endKind uint8

const (
	endRet endKind = iota + 1
	endJmp
)

// epilogue is a decoded epilogue, from RIP to its last instruction.
type epilogue struct {
	adjust adjustKind
	disp   int64 // add's immediate or lea's displacement
	npops  int
	pops   [maxPops]uint8
	end    endKind
	retImm uint16
	// direct says the last instruction is a jmp rel8/rel32 to target,
	// which ends an epilogue only if it leaves the function: the caller
	// decides that, as it takes the function's chain.
	direct bool
	target uint64
}

// codeReader fetches instruction bytes through the Unwinder's block cache.
type codeReader struct {
	u   *Unwinder
	mem Memory
	pc  uint64
}

func (r *codeReader) next() (byte, error) {
	u := r.u
	blk := r.pc &^ (codeBlockSize - 1)
	if !u.blockValid || u.blockAddr != blk {
		u.blockValid = false
		if err := u.read(r.mem, u.block[:], blk, "code bytes"); err != nil {
			return 0, err
		}
		u.blockAddr, u.blockValid = blk, true
	}
	b := u.block[r.pc-blk]
	r.pc++
	return b, nil
}

func (r *codeReader) bytes(n int) (uint64, error) {
	var v uint64
	for i := 0; i < n; i++ {
		b, err := r.next()
		if err != nil {
			return 0, err
		}
		v |= uint64(b) << (8 * i)
	}
	return v, nil
}

// decodeEpilogue decodes the instructions at rip as an epilogue. ok=false
// (with no error) means they are not one; an error is a failed read of
// the code itself. frameReg is the function's frame register (0: none),
// which a lea epilogue must use. A direct jmp is returned with ep.direct
// set, for the caller to check that its target leaves the function.
func (u *Unwinder) decodeEpilogue(mem Memory, rip uint64, frameReg uint8) (ep epilogue, ok bool, err error) {
	r := codeReader{u: u, mem: mem, pc: rip}
	b0, err := r.next()
	if err != nil {
		return ep, false, err
	}
	// The optional first instruction: add rsp or lea rsp.
	if b0 == 0x48 || b0 == 0x49 {
		b1, err := r.next()
		if err != nil {
			return ep, false, err
		}
		switch {
		case b0 == 0x48 && (b1 == 0x83 || b1 == 0x81):
			m, err := r.next()
			if err != nil {
				return ep, false, err
			}
			if m == 0xc4 { // ModRM: mod 11, /0 (add), rm rsp
				ep.adjust = adjustAdd
				if b1 == 0x83 {
					v, err := r.bytes(1)
					if err != nil {
						return ep, false, err
					}
					ep.disp = int64(int8(v))
				} else {
					v, err := r.bytes(4)
					if err != nil {
						return ep, false, err
					}
					ep.disp = int64(int32(v))
				}
				if ep.disp < 0 {
					return ep, false, nil // grows the stack: not an epilogue
				}
			}
		case b1 == 0x8d:
			m, err := r.next()
			if err != nil {
				return ep, false, err
			}
			mod, reg, rm := m>>6, (m>>3)&7, m&7
			if reg != RSP || (mod != 1 && mod != 2) {
				return ep, false, nil // a lea, but not of rsp from a base+disp
			}
			if rm == 4 { // a SIB byte: only [base] with no index is a frame register form
				sib, err := r.next()
				if err != nil {
					return ep, false, err
				}
				if sib != 0x24 {
					return ep, false, nil
				}
			}
			base := rm | (b0&1)<<3
			if frameReg == 0 || base != frameReg {
				return ep, false, nil
			}
			ep.adjust = adjustLea
			if mod == 1 {
				v, err := r.bytes(1)
				if err != nil {
					return ep, false, err
				}
				ep.disp = int64(int8(v))
			} else {
				v, err := r.bytes(4)
				if err != nil {
					return ep, false, err
				}
				ep.disp = int64(int32(v))
			}
		}
		if ep.adjust == adjustNone {
			r.pc = rip // not an adjustment: decode from rip again
		}
	} else {
		r.pc = rip
	}
	// The pops, then the last instruction.
	for n := 0; ; n++ {
		b, err := r.next()
		if err != nil {
			return ep, false, err
		}
		rex := uint8(0)
		if b&0xf0 == 0x40 {
			rex = b
			if b, err = r.next(); err != nil {
				return ep, false, err
			}
		}
		switch {
		case b >= 0x58 && b <= 0x5f: // pop r64
			reg := (b - 0x58) | (rex&1)<<3
			if reg == RSP || ep.npops == maxPops {
				return ep, false, nil
			}
			ep.pops[ep.npops] = reg
			ep.npops++
			continue
		case rex == 0 && b == 0xc3:
			ep.end = endRet
		case rex == 0 && b == 0xf3:
			if b, err = r.next(); err != nil {
				return ep, false, err
			}
			if b != 0xc3 {
				return ep, false, nil
			}
			ep.end = endRet // rep ret
		case rex == 0 && b == 0xc2:
			v, err := r.bytes(2)
			if err != nil {
				return ep, false, err
			}
			ep.end, ep.retImm = endRet, uint16(v)
		case rex == 0 && (b == 0xeb || b == 0xe9):
			size := 1
			if b == 0xe9 {
				size = 4
			}
			v, err := r.bytes(size)
			if err != nil {
				return ep, false, err
			}
			rel := int64(int8(v))
			if size == 4 {
				rel = int64(int32(v))
			}
			ep.end, ep.direct, ep.target = endJmp, true, r.pc+uint64(rel)
		case b == 0xff:
			m, err := r.next()
			if err != nil {
				return ep, false, err
			}
			if (m>>3)&7 != 4 {
				return ep, false, nil // FF but not jmp r/m64
			}
			if m != 0x25 && rex&8 == 0 {
				// An indirect jmp without REX.W other than through a
				// RIP-relative pointer is a switch table's, not a tail
				// call.
				return ep, false, nil
			}
			ep.end = endJmp
		default:
			return ep, false, nil
		}
		return ep, true, nil
	}
}

// runEpilogue emulates ep forward from c (RIP inside it) to the caller.
func (u *Unwinder) runEpilogue(c *Registers, ep *epilogue, frameReg uint8, mem Memory) error {
	switch ep.adjust {
	case adjustAdd:
		if err := addRSP(c, uint64(ep.disp)); err != nil {
			return err
		}
	case adjustLea:
		fr := int(frameReg)
		if !c.IsKnown(fr) {
			return unknownReg(fr, "lea rsp in an epilogue")
		}
		c.Set(RSP, c.GPR[fr]+uint64(ep.disp))
	}
	for _, reg := range ep.pops[:ep.npops] {
		v, err := u.read64(mem, c.GPR[RSP], "a register popped by the epilogue")
		if err != nil {
			return err
		}
		c.Set(int(reg), v)
		if err := addRSP(c, 8); err != nil {
			return err
		}
	}
	// ret and a tail call alike: the return address is at [RSP].
	ra, err := u.read64(mem, c.GPR[RSP], "the return address")
	if err != nil {
		return err
	}
	c.RIP = ra
	return addRSP(c, 8+uint64(ep.retImm))
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
