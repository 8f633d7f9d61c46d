package translate

import (
	"errors"
	"fmt"
)

// ErrNoVADs: a user address needed its VAD and no VADResolver was supplied.
var ErrNoVADs = errors.New("the VAD decides, and no VAD resolver was supplied")

// zeroEntry resolves a zero PML4E, PDPTE, PDE or PTE the way the page-fault
// handler does: through the VAD. A mapped view's page is its prototype PTE;
// private memory is demand-zero when committed and reserved otherwise.
func (w *walker) zeroEntry(dtb, va uint64) (Location, error) {
	if isKernel(va) {
		w.note(LevelVAD, va, "Kernel VA: no VADs")
		return Location{State: StateNotMapped, PageSize: pageSize}, nil
	}
	vad, found, err := w.findVAD(dtb, va)
	if err != nil {
		return Location{}, err
	}
	if !found {
		return Location{State: StateNotMapped, PageSize: pageSize}, nil
	}
	if !vad.Private {
		w.via = viaVADPrototype
		proto, err := w.vadPrototype(va, vad)
		if err != nil {
			return Location{}, err
		}
		return w.resolvePrototype(proto, va)
	}
	if vad.MemCommit {
		return Location{State: StateDemandZero, PageSize: pageSize, Protection: vad.Protection}, nil
	}
	return Location{State: StateReserved, PageSize: pageSize, Protection: vad.Protection}, nil
}

// findVAD asks the resolver and records the answer.
func (w *walker) findVAD(dtb, va uint64) (VAD, bool, error) {
	if w.t.vads == nil {
		w.note(LevelVAD, va, "Consulting VAD: no VAD resolver supplied")
		return VAD{}, false, &ReadError{What: "VAD", At: virtual(va), Err: ErrNoVADs}
	}
	vad, found, err := w.t.vads.FindVAD(dtb, va)
	if err != nil {
		return VAD{}, false, &ReadError{What: "VAD", At: virtual(va), Err: err}
	}
	if !found {
		w.note(LevelVAD, va, "Consulting VAD: no VAD contains 0x%x", va)
		return VAD{}, false, nil
	}
	// The resolver reads guest memory too; hold it to its contract.
	if va < vad.Start || va >= vad.End {
		return VAD{}, false, &ReadError{What: "VAD", At: virtual(va), Err: fmt.Errorf("VAD [0x%x, 0x%x) does not contain 0x%x", vad.Start, vad.End, va)}
	}
	if w.steps != nil {
		kind := "private"
		if vad.Private && vad.MemCommit {
			kind = "private, MemCommit"
		}
		if !vad.Private {
			kind = fmt.Sprintf("mapped, FirstPrototypePte 0x%x, Subsection 0x%x", vad.FirstPrototypePte, vad.Subsection)
		}
		w.note(LevelVAD, va, "Consulting VAD: 0x%x-0x%x %s, Protection %d (%s)",
			vad.Start, vad.End, kind, vad.Protection, ProtectionString(vad.Protection))
	}
	return vad, true, nil
}

// vadPrototype is FirstPrototypePte[(va - Start) / 4096].
func (w *walker) vadPrototype(va uint64, vad VAD) (uint64, error) {
	if vad.FirstPrototypePte == 0 {
		return 0, &ReadError{What: "VAD", At: virtual(va), Err: fmt.Errorf("mapped VAD at 0x%x has no prototype PTEs", vad.Start)}
	}
	proto := vad.FirstPrototypePte + (va-vad.Start)>>pageShift*w.t.dec.l.PTESize
	w.note(LevelVAD, va, "Prototype PTE is found in VAD: FirstPrototypePte 0x%x + 0x%x -> 0x%x",
		vad.FirstPrototypePte, (va-vad.Start)>>pageShift, proto)
	return proto, nil
}
