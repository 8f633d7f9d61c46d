package session

import (
	"bytes"
	"testing"

	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/translate"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// A guest reset drops the kernel's translator; the VM's translation
// counters keep what it counted, so they never go down (Prometheus would
// read a drop as a counter reset and overcount the rate).
func TestTranslateStatsSurviveAReset(t *testing.T) {
	s, _ := fakeSession(t, vmitest.Config{})
	// Page tables of zeros: every read is counted, as not mapped.
	tr, err := translate.NewHardware(translate.HardwareConfig{Physical: bytes.NewReader(make([]byte, 1<<20))})
	if err != nil {
		t.Fatal(err)
	}
	s.UseKernel(&nt.Opened{Translator: tr})
	buf := make([]byte, 4096)
	tr.ReadVirtual(0x1000, 0x7ff600000000, buf)
	tr.ReadVirtual(0x1000, 0x7ff600001000, buf)
	pages := func() uint64 {
		var n uint64
		for _, c := range s.TranslateStats().Pages {
			n += c
		}
		return n
	}
	before := pages()
	if before < 2 {
		t.Fatalf("the kernel translator's two reads counted %d pages", before)
	}
	s.reset()
	if after := pages(); after < before {
		t.Fatalf("after a reset the VM counts %d pages, fewer than the %d before", after, before)
	}
	// A new kernel's reads add to what the old one counted.
	tr2, err := translate.NewHardware(translate.HardwareConfig{Physical: bytes.NewReader(make([]byte, 1<<20))})
	if err != nil {
		t.Fatal(err)
	}
	s.UseKernel(&nt.Opened{Translator: tr2})
	tr2.ReadVirtual(0x1000, 0x7ff600000000, buf)
	if got := pages(); got < before+1 {
		t.Fatalf("after a new kernel's read the VM counts %d pages, want at least %d", got, before+1)
	}
}
