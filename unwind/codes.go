package unwind

// frameBase is the base that UWOP_SAVE_NONVOL offsets are relative to at
// one level of unwind info: RSP after the fixed allocation. Once the
// prologue has set the frame register, RSP may have moved since (alloca),
// so the base comes from the frame register (minus its scaled offset);
// before that, and without a frame register, it is RSP itself.
//
// The frame register is in effect when the whole prologue of this level
// ran (RIP past it, or this is a chained primary, whose prologue ran
// completely before control reached the fragment), when RIP is past this
// level's UWOP_SET_FPREG, or, for a fragment without one of its own, when
// the primary set it up before the fragment began.
func frameBase(c *Registers, in *info, all bool, prologOff uint64) (uint64, error) {
	if in.frameReg == 0 {
		return c.GPR[RSP], nil
	}
	set := all
	switch {
	case set:
	case in.setFP >= 0:
		set = uint64(in.setFP) <= prologOff
	default:
		set = in.flags&flagChainInfo != 0
	}
	if !set {
		return c.GPR[RSP], nil
	}
	fr := int(in.frameReg)
	if !c.IsKnown(fr) {
		return 0, unknownReg(fr, "frame register needed for the frame base")
	}
	return c.GPR[fr] - 16*uint64(in.frameOff), nil
}

// applyCodes undoes one level's prologue operations on c, latest first (the
// order of the array). all says the whole prologue ran; otherwise only
// the operations whose CodeOffset (the offset just past their
// instruction) is at most prologOff had run. It reports whether a machine
// frame replaced RIP and RSP.
func (u *Unwinder) applyCodes(c *Registers, in *info, all bool, prologOff uint64, mem Memory, st *Step) (machine bool, err error) {
	base, err := frameBase(c, in, all, prologOff)
	if err != nil {
		return false, err
	}
	for i := 0; i < int(in.count); {
		off, op, opInfo := in.code(i)
		n := slots(op, opInfo)
		ran := all || uint64(off) <= prologOff
		if op == opEpilog && in.version == 2 {
			// Version 2's epilogue descriptors: their offsets are
			// epilogue sizes and places, not prologue offsets; the
			// instruction stream tells the epilogue apart instead.
			ran = false
		}
		if ran {
			switch op {
			case opPushNonvol:
				v, err := u.read64(mem, c.GPR[RSP], "a pushed register")
				if err != nil {
					return false, err
				}
				c.Set(int(opInfo), v)
				if err := addRSP(c, 8); err != nil {
					return false, err
				}
			case opAllocSmall:
				if err := addRSP(c, uint64(opInfo)*8+8); err != nil {
					return false, err
				}
			case opAllocLarge:
				size := in.slot(i+1) * 8
				if opInfo == 1 {
					size = in.slot(i+1) | in.slot(i+2)<<16
				}
				if err := addRSP(c, uint64(size)); err != nil {
					return false, err
				}
			case opSetFPReg:
				fr := int(in.frameReg)
				if !c.IsKnown(fr) {
					return false, unknownReg(fr, "UWOP_SET_FPREG")
				}
				c.Set(RSP, c.GPR[fr]-16*uint64(in.frameOff))
			case opSaveNonvol, opSaveNonvolFar:
				disp := uint64(in.slot(i+1)) * 8
				if op == opSaveNonvolFar {
					disp = uint64(in.slot(i+1) | in.slot(i+2)<<16)
				}
				v, err := u.read64(mem, base+disp, "a saved register")
				if err != nil {
					return false, err
				}
				c.Set(int(opInfo), v)
			case opPushMachframe:
				if err := u.machineFrame(c, opInfo == 1, mem, st); err != nil {
					return false, err
				}
				machine = true
			}
			// opEpilog (version 1), opSpareCode, opSaveXMM128(Far):
			// XMM registers are not part of the integer context;
			// their slots are skipped.
		}
		i += n
	}
	return machine, nil
}

// machineFrame pops the frame the processor pushed: [error code,] RIP,
// CS, RFLAGS, RSP, SS. The caller becomes the interrupted context.
func (u *Unwinder) machineFrame(c *Registers, errorCode bool, mem Memory, st *Step) error {
	addr := c.GPR[RSP]
	n := 40
	if errorCode {
		n = 48
	}
	b := u.q[:n]
	if err := u.read(mem, b, addr, "a machine frame"); err != nil {
		return err
	}
	var q [6]uint64
	for i := 0; i < n/8; i++ {
		q[i] = le64(b[8*i:])
	}
	m := Machine{}
	f := q[:5]
	if errorCode {
		m.ErrorCode, m.HasErrorCode = q[0], true
		f = q[1:6]
	}
	m.RIP, m.CS, m.RFLAGS, m.RSP, m.SS = f[0], f[1], f[2], f[3], f[4]
	st.Machine = m
	c.RIP = m.RIP
	c.Set(RSP, m.RSP)
	return nil
}

// addRSP moves RSP up by n; a stack pointer that would wrap around the
// address space is corrupt data, not a caller.
func addRSP(c *Registers, n uint64) error {
	rsp := c.GPR[RSP]
	if rsp+n < rsp {
		return &StackError{RIP: c.RIP, Reason: "stack pointer wraps around the address space"}
	}
	c.GPR[RSP] = rsp + n
	return nil
}
