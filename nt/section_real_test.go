package nt

import "testing"

// TestRealISFControlArea: a mapped view's _SUBSECTION leads to its
// _CONTROL_AREA on Windows 10's layout: the image flags' bit positions
// there, and FilePointer an _EX_FAST_REF whose low bits are a reference
// count, not address; the file is named with its volume's namespace path.
func TestRealISFControlArea(t *testing.T) {
	g := newRealGuest(t)
	g.fillInfoMaskToOffset()
	types := g.objectTypes("Type", "Directory", "File", "Device")
	ns := newNamespace(g, types)
	vol := g.objectInfo(types["Device"], 0x02, "_DEVICE_OBJECT", "HarddiskVolume3", ns.dirs[ns.dir(`\`, "Device")])
	file := g.objectInfo(types["File"], 0, "_FILE_OBJECT", "", 0)
	g.set("_FILE_OBJECT", g.body(file), "DeviceObject", g.body(vol))
	g.unicode(g.addr("_FILE_OBJECT", g.body(file), "FileName"), `\Windows\System32\kernel32.dll`)

	ca := g.alloc("_CONTROL_AREA")
	g.set("_CONTROL_AREA", ca, "u.Flags.Image", 1)
	g.set("_CONTROL_AREA", ca, "u.Flags.File", 1)
	g.set("_CONTROL_AREA", ca, "u.Flags.ImageControlAreaOnRemovableMedia", 1)
	g.set("_CONTROL_AREA", ca, "FilePointer", g.body(file)|0xb)
	sub := g.alloc("_SUBSECTION")
	g.set("_SUBSECTION", sub, "ControlArea", ca)

	k := g.kernel()
	c, err := k.ControlAreaOfSubsection(sub)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Image || !c.OnRemovableMedia || c.FileObject != g.body(file) || c.File == nil ||
		c.File.Path() != `\Device\HarddiskVolume3\Windows\System32\kernel32.dll` {
		t.Errorf("control area %+v (file %+v)", c, c.File)
	}
	if name, err := k.SubsectionFileName(sub); err != nil || name != `\Windows\System32\kernel32.dll` {
		t.Errorf("SubsectionFileName = %q, %v", name, err)
	}
	g.set("_CONTROL_AREA", ca, "u.Flags.ImageControlAreaOnRemovableMedia", 0)
	if c, err := k.ControlAreaAt(ca); err != nil || c.OnRemovableMedia || !c.Image {
		t.Errorf("control area without the removable-media flag: %+v, %v", c, err)
	}
}
