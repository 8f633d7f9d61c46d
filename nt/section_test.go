package nt

import (
	"errors"
	"testing"
)

func TestControlAreaOfSubsection(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		fo := g.alloc("_FILE_OBJECT")
		g.unicode(g.addr("_FILE_OBJECT", fo, "FileName"), `\Windows\System32\frostimg.dll`)
		ca := g.alloc("_CONTROL_AREA")
		g.set("_CONTROL_AREA", ca, "u.Flags.Image", 1)
		g.set("_CONTROL_AREA", ca, "u.Flags.ImageControlAreaOnRemovableMedia", 1)
		f, err := g.tab.Field("_EX_FAST_REF.RefCnt")
		if err != nil {
			t.Fatal(err)
		}
		// A reference count in the fast reference's count bits.
		g.set("_CONTROL_AREA", ca, "FilePointer", fo|(5<<f.BitPosition))
		sub := g.alloc("_SUBSECTION")
		g.set("_SUBSECTION", sub, "ControlArea", ca)
		k := g.kernel()

		c, err := k.ControlAreaOfSubsection(sub)
		if err != nil {
			t.Fatal(err)
		}
		if c.Address != ca || c.FileObject != fo || !c.Image || !c.OnRemovableMedia {
			t.Errorf("control area %+v, want %#x with file object %#x, Image and OnRemovableMedia", c, ca, fo)
		}
		name, err := k.SubsectionFileName(sub)
		if err != nil || name != `\Windows\System32\frostimg.dll` {
			t.Errorf("SubsectionFileName = %q, %v", name, err)
		}

		g.set("_CONTROL_AREA", ca, "u.Flags.ImageControlAreaOnRemovableMedia", 0)
		g.set("_CONTROL_AREA", ca, "FilePointer", 0)
		if c, err = k.ControlAreaAt(ca); err != nil || c.OnRemovableMedia || c.File != nil {
			t.Errorf("a control area without a file: %+v, %v", c, err)
		}
		if _, err := k.SubsectionFileName(sub); !errors.Is(err, ErrCorrupt) {
			t.Errorf("a file name from a control area without a file: %v, want ErrCorrupt", err)
		}
		g.set("_SUBSECTION", sub, "ControlArea", 0)
		if _, err := k.ControlAreaOfSubsection(sub); !errors.Is(err, ErrCorrupt) {
			t.Errorf("a subsection without a control area: %v, want ErrCorrupt", err)
		}
		if _, err := k.ControlAreaOfSubsection(0xffffb00000000000); err == nil {
			t.Error("an unreadable subsection gave no error")
		}
	})
}
