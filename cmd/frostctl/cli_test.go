package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// A size that overflows 64 bits is refused, not wrapped to a small one.
func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{"16": 16, "0x10": 16, "4K": 4 << 10, "2M": 2 << 20, "1G": 1 << 30} {
		if got, err := parseSize("LEN", in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"17179869184G", "0xffffffffffffffffK", "x"} {
		if got, err := parseSize("LEN", in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

// An address reads the same with WinDbg's backtick, without it, with or
// without 0x (issue 12, item 11: the backtick form must be quoted in a
// shell, so the form without it is as good); a stray character is an
// error naming the argument.
func TestParseAddrForms(t *testing.T) {
	for _, in := range []string{"fffff800`12345678", "fffff80012345678", "0xfffff800`12345678", "0xFFFFF80012345678", "0n18446735277921949304"} {
		if got, err := parseAddr("ADDR", in); err != nil || got != 0xfffff80012345678 {
			t.Errorf("parseAddr(%q) = %#x, %v", in, got, err)
		}
	}
	for _, in := range []string{"'fffff800`12345678'", "fffff800 12345678", "`", "nt!NtWriteFile", "0x"} {
		if got, err := parseAddr("ADDR", in); err == nil || !strings.Contains(err.Error(), "ADDR") {
			t.Errorf("parseAddr(%q) = %#x, %v; want an error naming ADDR", in, got, err)
		}
	}
}

// A range's end of 0 is 2^64 (VadMap up to the top), never address 0.
func TestEndAddrAtTheTop(t *testing.T) {
	for v, want := range map[uint64]string{0: "1`00000000`00000000", 0x1000: "00001000", 0xfffff80000001000: "fffff800`00001000"} {
		if got := endAddr(v); got != want {
			t.Errorf("endAddr(%#x) = %q, want %q", v, got, want)
		}
	}
}

// --dtb reaches the breakpoint's filter as a hex page-table base, the way
// a user address names its address space without a Windows kernel.
func TestBreakDTBFilter(t *testing.T) {
	fs := pflag.NewFlagSet("break", pflag.ContinueOnError)
	f := addFilterFlags(fs)
	if err := fs.Parse([]string{"--dtb", "1aa000", "--dtb", "0x2b3000"}); err != nil {
		t.Fatal(err)
	}
	got, err := f.filter()
	if err != nil {
		t.Fatal(err)
	}
	if d := got.GetDtbs(); len(d) != 2 || d[0] != 0x1aa000 || d[1] != 0x2b3000 {
		t.Errorf("dtbs %#x", d)
	}
	fs = pflag.NewFlagSet("break", pflag.ContinueOnError)
	f = addFilterFlags(fs)
	fs.Parse([]string{"--dtb", "nope"})
	if _, err := f.filter(); err == nil {
		t.Error("--dtb nope was taken")
	}
}
