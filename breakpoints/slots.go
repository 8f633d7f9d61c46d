package breakpoints

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/frostvmi/frost/vmi"
)

// slot is one breakpoint armed in the stub, shared by its observers.
type slot struct {
	addr      uint64
	bp        vmi.Breakpoint
	placement Placement
	observers []*observer // in the order they were added
}

// owners lists who observes the slot, each once, for refusals.
func (s *slot) owners() []string {
	var names []string
	for _, o := range s.observers {
		if o.spec.Owner != "" && !slices.Contains(names, o.spec.Owner) {
			names = append(names, o.spec.Owner)
		}
	}
	return names
}

func (s *slot) ownerNames() string {
	names := s.owners()
	if len(names) == 0 {
		return "an unnamed owner"
	}
	return strings.Join(names, " and ")
}

// observer is one Spec attached to a slot.
type observer struct {
	id   ID
	spec Spec
	slot *slot
	// call is set for a break-on-return observer: the hit it returns from.
	call *Hit
}

// candidates lists the placements a new slot for an observer asking want
// may take, best first, or says why there is none. For KindAuto that is
// invisible before visible, and under KVM the debug registers before a
// software breakpoint that writes 0xCC into the guest.
func (m *Manager) candidates(addr uint64, want KindChoice) ([]Placement, error) {
	c := m.caps
	sw := Placement{Kind: vmi.SoftwareBreakpoint, Visible: c.SoftwareVisible}
	hw := Placement{Kind: vmi.HardwareBreakpoint}
	hwFree := c.Hardware && (c.HardwareSlots == 0 || m.hwUsed < c.HardwareSlots)
	switch want {
	case KindSoftware:
		if !c.Software {
			return nil, &KindError{Addr: addr, Want: want, Accel: c.Accel, Reason: softwareRefusal(c)}
		}
		return []Placement{sw}, nil
	case KindHardware:
		if !c.Hardware {
			return nil, &KindError{Addr: addr, Want: want, Accel: c.Accel, Reason: "hardware breakpoints are not available"}
		}
		if !hwFree {
			return nil, m.slotError(addr, want, nil)
		}
		return []Placement{hw}, nil
	}
	if c.Software && !c.SoftwareVisible {
		return []Placement{sw}, nil // TCG: unlimited and invisible
	}
	var out []Placement
	if hwFree {
		out = append(out, hw)
	}
	if c.Software {
		out = append(out, sw)
	}
	if len(out) == 0 {
		return nil, m.slotError(addr, want, nil)
	}
	return out, nil
}

// slotError explains why addr got no slot: how many debug registers are
// in use and by whom, and why software was no fallback. stub is the
// stub's own refusal, when it had the last word.
func (m *Manager) slotError(addr uint64, want KindChoice, stub error) *SlotError {
	in := &HardwareInUse{Stub: stub, HardwareOnly: want == KindHardware}
	if want != KindHardware && !m.caps.Software {
		in.Software = softwareRefusal(m.caps)
	}
	for _, s := range m.slots {
		if s.bp.Kind != vmi.HardwareBreakpoint {
			continue
		}
		in.Used = append(in.Used, SlotUse{Addr: s.addr, Owners: s.owners()})
	}
	slices.SortFunc(in.Used, func(a, b SlotUse) int { return cmp.Compare(a.Addr, b.Addr) })
	return &SlotError{Addr: addr, Caps: m.caps, HardwareUsed: m.hwUsed, Err: in}
}

// arm inserts a new slot at addr, trying the candidates in order. A
// hardware slot the stub refuses as taken (another debugger's, or one
// QEMU counts differently) falls through to the next candidate.
func (m *Manager) arm(addr uint64, want KindChoice) (*slot, error) {
	cands, err := m.candidates(addr, want)
	if err != nil {
		return nil, err
	}
	var got *slot
	var last error
	err = m.withStopped(func(ctx context.Context) error {
		for _, p := range cands {
			bp := vmi.Breakpoint{Kind: p.Kind, Addr: addr, Size: 1}
			err := m.t.InsertBreakpoint(ctx, bp)
			if err == nil {
				got = &slot{addr: addr, bp: bp, placement: p}
				return nil
			}
			if !errors.Is(err, vmi.ErrSlotsExhausted) && !errors.Is(err, vmi.ErrRefused) {
				return err
			}
			last = err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("breakpoints: arming %#x: %w", addr, err)
	}
	if got == nil {
		return nil, m.slotError(addr, want, last)
	}
	if got.bp.Kind == vmi.HardwareBreakpoint {
		m.hwUsed++
	}
	m.slots[addr] = got
	return got, nil
}

// disarm removes an empty slot from the stub. The slot is forgotten even
// if the stub refuses: a failing connection cannot be fixed from here, and
// a stale hit on it is resumed (wasRemoved).
func (m *Manager) disarm(s *slot) error {
	delete(m.slots, s.addr)
	if s.bp.Kind == vmi.HardwareBreakpoint {
		m.hwUsed--
	}
	m.noteRemoved(s.addr)
	// A hit pending on this slot stays pending: it still owes the guest
	// its resume when the hold ends (stepAndResume steps over only a slot
	// that is still there).
	err := m.withStopped(func(ctx context.Context) error {
		return m.t.RemoveBreakpoint(ctx, s.bp)
	})
	if err != nil {
		m.log.Error("removing a breakpoint failed", "addr", fmt.Sprintf("%#x", s.addr), "err", err)
		return fmt.Errorf("breakpoints: removing %#x: %w", s.addr, err)
	}
	return nil
}

// staleWindow is how long a disarmed address still explains a trap: the
// stub may have reported a hit on it just before the removal.
const staleWindow = 5 * time.Second

func (m *Manager) wasRemoved(addr uint64) bool {
	m.pruneRemoved()
	_, ok := m.removed[addr]
	return ok
}

// noteRemoved records that addr was disarmed now. Older records are
// pruned here too, so that a daemon arming and disarming ever new
// addresses without a stray trap does not keep them all.
func (m *Manager) noteRemoved(addr uint64) {
	m.pruneRemoved()
	m.removed[addr] = time.Now()
}

func (m *Manager) pruneRemoved() {
	now := time.Now()
	for a, at := range m.removed {
		if now.Sub(at) > staleWindow {
			delete(m.removed, a)
		}
	}
}

// Add arms an observer on spec.Addr: it shares the slot already armed
// there, or gets a new one (see Placement). With no slot free it fails
// with a *SlotError matching ErrNoSlot. The guest is paused for the
// insert if it runs.
func (m *Manager) Add(ctx context.Context, spec Spec) (Armed, error) {
	return m.add(ctx, spec, nil)
}

func (m *Manager) add(ctx context.Context, spec Spec, call *Hit) (Armed, error) {
	if err := spec.validate(); err != nil {
		return Armed{}, err
	}
	var armed Armed
	var err error
	if derr := m.do(ctx, func() { armed, err = m.addOnLoop(spec, call) }); derr != nil {
		return Armed{}, derr
	}
	return armed, err
}

func (m *Manager) addOnLoop(spec Spec, call *Hit) (Armed, error) {
	if m.closing {
		return Armed{}, ErrClosed
	}
	if spec.ReturnOf != 0 && spec.Kind == KindAuto {
		if o := m.observers[spec.ReturnOf]; o != nil {
			spec.Kind = o.spec.Kind
		}
	}
	s, shared := m.slots[spec.Addr], true
	if s != nil && !spec.Kind.allows(s.placement) {
		return Armed{}, &KindError{Addr: spec.Addr, Want: spec.Kind, Accel: m.caps.Accel,
			Reason: fmt.Sprintf("the address is already armed as a %v breakpoint (by %s); ask for auto to share it, or remove it first", s.placement, s.ownerNames())}
	}
	if s == nil {
		var err error
		if s, err = m.arm(spec.Addr, spec.Kind); err != nil {
			return Armed{}, err
		}
		shared = false
	}
	m.nextID++
	o := &observer{id: m.nextID, spec: spec, slot: s, call: call}
	s.observers = append(s.observers, o)
	m.observers[o.id] = o
	return Armed{ID: o.id, Addr: s.addr, Placement: s.placement, Shared: shared}, nil
}

// Remove drops an observer, and its slot if it was the last one there.
// An unknown ID (already removed, fired one-shot, dropped at a reset)
// gives ErrUnknown.
func (m *Manager) Remove(ctx context.Context, id ID) error {
	var err error
	if derr := m.do(ctx, func() { err = m.removeOnLoop(id) }); derr != nil {
		return derr
	}
	return err
}

func (m *Manager) removeOnLoop(id ID) error {
	o := m.observers[id]
	if o == nil {
		return fmt.Errorf("%w: %d", ErrUnknown, id)
	}
	return m.detach(o)
}

// detach takes o off its slot, disarming the slot when it empties.
func (m *Manager) detach(o *observer) error {
	delete(m.observers, o.id)
	s := o.slot
	s.observers = slices.DeleteFunc(s.observers, func(x *observer) bool { return x == o })
	if len(s.observers) == 0 && m.slots[s.addr] == s {
		return m.disarm(s)
	}
	return nil
}

// Lookup reports an observer's address and placement.
func (m *Manager) Lookup(ctx context.Context, id ID) (Armed, error) {
	var a Armed
	var err error
	if derr := m.do(ctx, func() {
		o := m.observers[id]
		if o == nil {
			err = fmt.Errorf("%w: %d", ErrUnknown, id)
			return
		}
		a = Armed{ID: id, Addr: o.slot.addr, Placement: o.slot.placement, Shared: len(o.slot.observers) > 1}
	}); derr != nil {
		return Armed{}, derr
	}
	return a, err
}

// List reports every observer, in the order they were added.
func (m *Manager) List(ctx context.Context) ([]Armed, error) {
	var out []Armed
	if err := m.do(ctx, func() {
		for _, o := range m.observers {
			out = append(out, Armed{ID: o.id, Addr: o.slot.addr, Placement: o.slot.placement, Shared: len(o.slot.observers) > 1})
		}
		slices.SortFunc(out, func(a, b Armed) int { return cmp.Compare(a.ID, b.ID) })
	}); err != nil {
		return nil, err
	}
	return out, nil
}
