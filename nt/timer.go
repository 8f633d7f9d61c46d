package nt

import (
	"encoding/binary"
	"fmt"
)

// Timer is an armed _KTIMER on the kernel's timer table.
type Timer struct {
	Address uint64 // kernel VA of the _KTIMER
	Hand    uint64 // its index in the table
	// DueTime is when it falls due: interrupt time, 100 ns units since
	// boot. Period is in ms; 0 for a one-shot timer.
	DueTime, Period uint64
	Type            uint64 // Header.Type: 8 notification, 9 synchronization
	Signaled        bool   // Header.SignalState != 0
	// Dpc is its _KDPC, 0 for none; DeferredRoutine and DeferredContext
	// are the DPC's.
	Dpc, DeferredRoutine, DeferredContext uint64
}

// Bounds on the timer table: Windows' has 256 or 512 hands.
const (
	maxTimerHands   = 4096
	maxTimersByHand = 1 << 14
)

// Timers walks KiTimerTableListHead, the array of _KTIMER_TABLE_ENTRY
// (KiTimerTableSize of them) whose Entry lists hold the armed timers:
// Windows 7's table, and mini-NT's. Windows 8 and later keep one table
// per processor (_KPRCB.TimerTable) and store each Dpc pointer encoded
// with KiWaitNever and KiWaitAlways; neither is read here, so on such a
// build this is a SymbolError naming KiTimerTableListHead.
func (k *Kernel) Timers() ([]Timer, error) {
	table, err := k.global("KiTimerTableListHead")
	if err != nil {
		return nil, err
	}
	if _, err := k.lay.rva("KiWaitNever"); err == nil {
		return nil, &SymbolError{Need: "plain Dpc pointers", Err: fmt.Errorf("this build encodes them (KiWaitNever)")}
	}
	sizeVA, err := k.global("KiTimerTableSize")
	if err != nil {
		return nil, err
	}
	var b [4]byte
	if err := k.read("KiTimerTableSize", k.dtb, sizeVA, b[:]); err != nil {
		return nil, err
	}
	hands := uint64(binary.LittleEndian.Uint32(b[:]))
	if hands == 0 || hands > maxTimerHands {
		return nil, &WalkError{What: "KiTimerTableListHead", At: table, Err: ErrCorrupt, Msg: fmt.Sprintf("KiTimerTableSize %d", hands)}
	}
	entrySize, err := k.lay.size("_KTIMER_TABLE_ENTRY")
	if err != nil {
		return nil, err
	}
	entryOff, err := k.lay.offset("_KTIMER_TABLE_ENTRY.Entry")
	if err != nil {
		return nil, err
	}
	linkOff, err := k.lay.offset("_KTIMER.TimerListEntry")
	if err != nil {
		return nil, err
	}
	var out []Timer
	for h := uint64(0); h < hands; h++ {
		head := table + h*entrySize + entryOff
		err := k.walkList(fmt.Sprintf("timer table hand %d", h), k.dtb, head, maxTimersByHand, func(link uint64) error {
			t, err := k.TimerAt(link - linkOff)
			if err != nil {
				return err
			}
			t.Hand = h
			out = append(out, t)
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// TimerAt reads the _KTIMER at addr and, if it has one, its _KDPC.
func (k *Kernel) TimerAt(addr uint64) (Timer, error) {
	t := Timer{Address: addr}
	o, err := k.readObject("_KTIMER", k.dtb, addr)
	if err != nil {
		return t, err
	}
	var signal uint64
	for _, f := range []struct {
		path string
		dst  *uint64
	}{
		{"DueTime.QuadPart", &t.DueTime}, {"Period", &t.Period}, {"Header.Type", &t.Type},
		{"Header.SignalState", &signal}, {"Dpc", &t.Dpc},
	} {
		if *f.dst, err = o.uint(f.path); err != nil {
			return t, err
		}
	}
	t.Signaled = signal != 0
	if t.Dpc == 0 {
		return t, nil
	}
	if !canonical(t.Dpc) {
		return t, &WalkError{What: "_KTIMER.Dpc", At: addr, Err: ErrCorrupt, Msg: fmt.Sprintf("%#x is not canonical", t.Dpc)}
	}
	d, err := k.readObject("_KDPC", k.dtb, t.Dpc)
	if err != nil {
		return t, err
	}
	if t.DeferredRoutine, err = d.uint("DeferredRoutine"); err != nil {
		return t, err
	}
	t.DeferredContext, err = d.uint("DeferredContext")
	return t, err
}
