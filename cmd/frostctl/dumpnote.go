package main

import (
	"fmt"
	"strings"
)

// Frost's own note in every ELF core frostctl writes: owner "FROST",
// type 0x46524f53 ("FROS"; not a small number, which readelf and naive
// readers that skip the owner would take for NT_PRSTATUS and count as a
// thread), and a descriptor of UTF-8 text, one "key=value" per line:
//
//	frost-dump=1
//	image=consistent        or image=smear
//	guest=paused            frostctl stopped the guest for the dump and resumed it after
//	guest=stopped           the guest was already stopped, and stays so
//	guest=running           --live: the guest ran during the dump
//	vcpus=N                 how many vCPUs have CPU notes (0 when none)
//	registers=REASON        only when there are no CPU notes: why
//	qemu-cpu-state-known=F,F,...  the QEMUCPUState fields that hold the
//	                        vCPUs' state (names as in QEMU's struct,
//	                        segments as cs.base, cs.limit, ...); every
//	                        other field is zero because it was not known
//	system-registers=REASON only when segment descriptors and descriptor
//	                        tables are not known: why
//
// A smear's pages were read at different moments while the guest ran:
// page tables and the data they point at may disagree.
const (
	frostNoteName = "FROST"
	frostNoteType = 0x46524f53
)

// dumpInfo is what the FROST note records.
type dumpInfo struct {
	live       bool
	wasRunning bool // the dump paused a running guest
	vcpus      int
	noRegs     string // why there are no CPU notes
	known      []string
	noSystem   string // why segment descriptors are unknown
}

func (d dumpInfo) image() string {
	if d.live {
		return "smear"
	}
	return "consistent"
}

func (d dumpInfo) guest() string {
	switch {
	case d.live:
		return "running"
	case d.wasRunning:
		return "paused"
	}
	return "stopped"
}

func (d dumpInfo) note() elfNote {
	var b strings.Builder
	fmt.Fprintf(&b, "frost-dump=1\nimage=%s\nguest=%s\nvcpus=%d\n", d.image(), d.guest(), d.vcpus)
	if d.noRegs != "" {
		fmt.Fprintf(&b, "registers=%s\n", oneLine(d.noRegs))
	}
	if d.vcpus > 0 {
		fmt.Fprintf(&b, "qemu-cpu-state-known=%s\n", strings.Join(d.known, ","))
		if d.noSystem != "" {
			fmt.Fprintf(&b, "system-registers=%s\n", oneLine(d.noSystem))
		}
	}
	return elfNote{name: frostNoteName, typ: frostNoteType, desc: []byte(b.String())}
}

// oneLine keeps a server's message from breaking the note's line format.
func oneLine(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ") }
