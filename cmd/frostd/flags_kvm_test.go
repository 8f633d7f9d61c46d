package main

import (
	"io"
	"testing"

	"github.com/frostvmi/frost/vmi"
)

// --allow-software-breakpoints is off by default, and on it reaches the
// options guests are opened with, so that under KVM (and only there: not
// on a host whose KVM lacks vmx/svm) software breakpoints become allowed.
func TestAllowSoftwareBreakpointsFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--allow-software-breakpoints"}, true},
	} {
		cfg, err := parseFlags(c.args, io.Discard)
		if err != nil {
			t.Fatalf("parseFlags(%q): %v", c.args, err)
		}
		opt := cfg.vmiOptions()
		if opt.AllowVisibleBreakpoints != c.want {
			t.Errorf("%q: AllowVisibleBreakpoints %v, want %v", c.args, opt.AllowVisibleBreakpoints, c.want)
		}
		kvm, err := vmi.CapabilitiesFor(vmi.AccelKVM, opt.AllowVisibleBreakpoints)
		if err != nil {
			t.Fatal(err)
		}
		pvm, err := vmi.CapabilitiesFor(vmi.AccelKVMNoVirt, opt.AllowVisibleBreakpoints)
		if err != nil {
			t.Fatal(err)
		}
		if kvm.Software != c.want || pvm.Software {
			t.Errorf("%q: software allowed under KVM %v (want %v), under kvm_pvm %v (want false)", c.args, kvm.Software, c.want, pvm.Software)
		}
	}
}
