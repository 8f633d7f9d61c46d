package nt

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// link chains the named object body into directory dir's bucket b, at
// the head as the object manager inserts, and returns the entry.
func (ns *namespace) link(dir string, b, body uint64) uint64 {
	g := ns.g
	e := g.alloc("_OBJECT_DIRECTORY_ENTRY")
	heads := g.addr("_OBJECT_DIRECTORY", ns.dirs[dir], "HashBuckets")
	g.set("_OBJECT_DIRECTORY_ENTRY", e, "ChainLink", g.u64(heads+8*b))
	g.set("_OBJECT_DIRECTORY_ENTRY", e, "Object", body)
	g.mem.write(heads+8*b, le(e))
	return e
}

// TestRealISFObjectDirectory: a directory is listed by walking its hash
// buckets' chains (37 on Windows 10, the array's length in the ISF), and a
// path is followed from ObpRootDirectoryObject one component at a time,
// without case.
func TestRealISFObjectDirectory(t *testing.T) {
	g := newRealGuest(t)
	g.fillInfoMaskToOffset()
	types := g.objectTypes("Type", "Directory", "Event", "Mutant", "Device")
	ns := newNamespace(g, types)
	dev := ns.dir(`\`, "Device")
	bno := ns.dir(`\`, "BaseNamedObjects")
	ns.link(`\`, 19, ns.dirs[dev])
	ns.link(`\`, 23, ns.dirs[bno])
	vol := g.body(g.objectInfo(types["Device"], 0x02, "_DEVICE_OBJECT", "HarddiskVolume3", ns.dirs[dev]))
	ns.link(dev, 13, vol)
	mu := g.body(g.objectInfo(types["Mutant"], 0x0a, "_KMUTANT", "FrostWriterMutant", ns.dirs[bno]))
	ev := g.body(g.objectInfo(types["Event"], 0x03, "_KEVENT", "frost-ready", ns.dirs[bno]))
	ns.link(bno, 36, mu)
	ns.link(bno, 36, ev) // the same bucket: a chain of two
	k := g.kernel()

	root, err := k.ObjectDirectory(`\`)
	if err != nil {
		t.Fatal(err)
	}
	want := []DirectoryEntry{{"Device", "Directory", ns.dirs[dev], 19}, {"BaseNamedObjects", "Directory", ns.dirs[bno], 23}}
	if !slices.Equal(root, want) {
		t.Errorf(`\ = %+v, want %+v`, root, want)
	}
	got, err := k.ObjectDirectory(`\basenamedobjects`)
	if err != nil {
		t.Fatal(err)
	}
	want = []DirectoryEntry{{"frost-ready", "Event", ev, 36}, {"FrostWriterMutant", "Mutant", mu, 36}}
	if !slices.Equal(got, want) {
		t.Errorf(`\BaseNamedObjects = %+v, want %+v`, got, want)
	}
	if got, err := k.ObjectDirectory(`\Device\`); err != nil || len(got) != 1 || got[0].Name != "HarddiskVolume3" || got[0].Type != "Device" {
		t.Errorf(`\Device = %+v, %v`, got, err)
	}
	if _, err := k.ObjectDirectory(`\Sessions`); err == nil || !strings.Contains(err.Error(), "Sessions") {
		t.Errorf(`\Sessions: %v, want "no directory"`, err)
	}
	if _, err := k.ObjectDirectory(`\Device\HarddiskVolume3`); err == nil {
		t.Error(`\Device\HarddiskVolume3 is a device, not a directory, and was listed`)
	}
	if _, err := k.ObjectDirectory(`Device`); err == nil {
		t.Error("a relative path was accepted")
	}
}

// TestRealISFObjectDirectoryCycle: a chain that comes back on itself is
// refused, not walked forever.
func TestRealISFObjectDirectoryCycle(t *testing.T) {
	g := newRealGuest(t)
	g.fillInfoMaskToOffset()
	types := g.objectTypes("Type", "Directory", "Event")
	ns := newNamespace(g, types)
	ev := g.body(g.objectInfo(types["Event"], 0x02, "_KEVENT", "e", ns.dirs[`\`]))
	e := ns.link(`\`, 5, ev)
	g.set("_OBJECT_DIRECTORY_ENTRY", e, "ChainLink", e)
	if got, err := g.kernel().ObjectDirectory(`\`); !errors.Is(err, ErrCycle) {
		t.Errorf("a chain to itself: %+v, %v; want ErrCycle", got, err)
	}
	g.set("_OBJECT_DIRECTORY_ENTRY", e, "ChainLink", 0x1234)
	if got, err := g.kernel().ObjectDirectory(`\`); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a chain into user space: %+v, %v; want ErrCorrupt", got, err)
	}
}
