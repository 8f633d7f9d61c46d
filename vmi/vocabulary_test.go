package vmi

import (
	"errors"
	"fmt"
	"testing"

	"github.com/frostvmi/frost/vmi/gdbstub"
	"github.com/frostvmi/frost/vmi/libvirt"
	"github.com/frostvmi/frost/vmi/physmem"
)

// TestVocabularyMatchesBackends: the layers above vmi test a Target's
// errors by vmi's names only, so every name must match what the backends
// actually return, wrapped as a Target wraps them. A vmi sentinel made
// afresh (errors.New) instead of the backend's would compile and then
// never match; this test catches that.
func TestVocabularyMatchesBackends(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("vmi: guest g: inserting: %w", err) }
	is := []struct {
		err  error // as the backend returns it
		want error // vmi's name for it
	}{
		{&gdbstub.BreakpointError{Op: "insert", Err: fmt.Errorf("%w (E22)", gdbstub.ErrSlotsExhausted)}, ErrSlotsExhausted},
		{&gdbstub.CapabilityError{Kind: gdbstub.Software, Accel: gdbstub.AccelKVMNoVirt}, ErrRefused},
		{&gdbstub.ConnError{}, ErrClosed},
		{&gdbstub.RegisterError{Name: "xmm99", Err: gdbstub.ErrUnknownRegister}, ErrUnknownRegister},
		{&gdbstub.RegisterError{Name: "fs_base", Err: gdbstub.ErrUnavailable}, ErrUnavailable},
		{gdbstub.ErrRunning, ErrRunning},
		{gdbstub.ErrExited, ErrExited},
		{gdbstub.ErrUnsupported, ErrUnsupported},
		{gdbstub.ErrPacketTooLarge, ErrPacketTooLarge},
		{fmt.Errorf("libvirt: looking up domain x: %w", libvirt.ErrNoDomain), ErrNoDomain},
	}
	for _, c := range is {
		if !errors.Is(wrap(c.err), c.want) {
			t.Errorf("%v does not match %v", c.err, c.want)
		}
	}
	var be *BreakpointError
	if !errors.As(wrap(is[0].err), &be) || be.Op != "insert" {
		t.Errorf("errors.As(*vmi.BreakpointError) = %v", be)
	}
	var ce *CapabilityError
	if !errors.As(wrap(is[1].err), &ce) || ce.Accel != AccelKVMNoVirt || ce.Kind != SoftwareBreakpoint {
		t.Errorf("errors.As(*vmi.CapabilityError) = %v", ce)
	}
	var nr *NotRAMError
	if !errors.As(wrap(&physmem.NotRAMError{GPA: 0xfed00000, What: "hpet"}), &nr) || nr.GPA != 0xfed00000 {
		t.Errorf("errors.As(*vmi.NotRAMError) = %v", nr)
	}
}

// TestCapabilitiesForUnderVMINames: the rules a fake Target gets through
// vmi are the real ones: KVM without vmx/svm refuses software breakpoints
// even with the operator's consent, TCG allows them unseen.
func TestCapabilitiesForUnderVMINames(t *testing.T) {
	pvm, err := CapabilitiesFor(AccelKVMNoVirt, true)
	if err != nil || pvm.Software || !pvm.Hardware || pvm.HardwareSlots != 4 {
		t.Errorf("kvm_pvm: %+v, %v", pvm, err)
	}
	tcg, err := CapabilitiesFor(AccelTCG, false)
	if err != nil || !tcg.Software || tcg.SoftwareVisible {
		t.Errorf("TCG: %+v, %v", tcg, err)
	}
	if _, err := CapabilitiesFor(AccelUnknown, true); err == nil {
		t.Error("an unknown accelerator got capabilities")
	}
}
