package nt

import (
	"errors"
	"strings"
	"testing"
)

// infoHeaderTypes are Windows' optional object headers by InfoMask bit,
// OB_INFOMASK_CREATOR_INFO (0x1) to OB_INFOMASK_PADDING_INFO (0x80): the
// bit assignment is a Windows encoding no symbol states; the sizes come
// from the ISF.
var infoHeaderTypes = [8]string{
	"_OBJECT_HEADER_CREATOR_INFO", "_OBJECT_HEADER_NAME_INFO", "_OBJECT_HEADER_HANDLE_INFO",
	"_OBJECT_HEADER_QUOTA_INFO", "_OBJECT_HEADER_PROCESS_INFO", "_OBJECT_HEADER_AUDIT_INFO",
	"_OBJECT_HEADER_EXTENDED_INFO", "_OBJECT_HEADER_PADDING_INFO",
}

func (g *guest) size(typ string) uint64 {
	g.t.Helper()
	n, err := g.tab.Size(typ)
	if err != nil {
		g.t.Fatal(err)
	}
	return n
}

// fillInfoMaskToOffset fills ObpInfoMaskToOffset as the kernel does at
// boot: entry i is the total size of the optional headers whose bits i
// has.
func (g *guest) fillInfoMaskToOffset() {
	var table [256]byte
	for i := range table {
		var off uint64
		for bit, typ := range infoHeaderTypes {
			if i&(1<<bit) != 0 {
				off += g.size(typ)
			}
		}
		table[i] = byte(off)
	}
	g.mem.write(g.global("ObpInfoMaskToOffset"), table[:])
}

// objectInfo allocates an object as the object manager lays one out: the
// optional headers InfoMask names first, the highest bit at the start of
// the allocation, so the lowest (the creator info) ends next to the
// _OBJECT_HEADER; then the header and the body. The name info holds name
// and dir (its Directory); the other headers hold what Windows would put
// there, so a name read from the wrong one shows. It returns the header.
func (g *guest) objectInfo(idx, mask uint64, body, name string, dir uint64) uint64 {
	g.t.Helper()
	if mask&0x80 != 0 {
		g.t.Fatal("objectInfo: the padding info would misalign the header")
	}
	var pre uint64
	for bit, typ := range infoHeaderTypes {
		if mask&(1<<bit) != 0 {
			pre += g.size(typ)
		}
	}
	g.next = (g.next + 15) &^ 15
	h := g.allocBytes(pre+g.size("_OBJECT_HEADER")+g.size(body)) + pre
	at := h
	for bit, typ := range infoHeaderTypes {
		if mask&(1<<bit) == 0 {
			continue
		}
		at -= g.size(typ)
		switch bit {
		case 0: // the creator: on its type's object list
			g.initList(g.addr(typ, at, "TypeList"))
			g.set(typ, at, "CreatorUniqueProcess", 0x1f8)
		case 1:
			g.set(typ, at, "Directory", dir)
			g.unicode(g.addr(typ, at, "Name"), name)
			g.set(typ, at, "ReferenceCount", 1)
		case 2:
			g.set(typ, at, "HandleCountDataBase", 0xffffa000deadbe00)
		case 3:
			g.set(typ, at, "PagedPoolCharge", 0x1000)
			g.set(typ, at, "NonPagedPoolCharge", 0x220)
			g.set(typ, at, "SecurityDescriptorCharge", 0x800)
		case 4:
			g.set(typ, at, "ExclusiveProcess", 0xffffa000cafe0080)
		case 5:
			g.set(typ, at, "SecurityDescriptor", 0xffffa000f00d0010)
		case 6:
			g.set(typ, at, "Footer", 0xffffa000beef0020)
		}
	}
	g.set("_OBJECT_HEADER", h, "TypeIndex", (idx^testCookie^(h>>8))&0xff)
	g.set("_OBJECT_HEADER", h, "InfoMask", mask)
	g.set("_OBJECT_HEADER", h, "PointerCount", 1)
	return h
}

// TestRealISFObjectNames: an object's name is found through
// ObpInfoMaskToOffset whatever other optional headers it has (the index
// is InfoMask & 3: the name bit and the creator bit below it), on Windows
// 10's layout. These objects are outside the namespace (no Directory), so
// the name is the bare Name.
func TestRealISFObjectNames(t *testing.T) {
	g := newRealGuest(t)
	g.fillInfoMaskToOffset()
	types := g.objectTypes("Type", "Directory", "Event", "Mutant", "Section", "File", "Device", "Process")
	cases := []struct {
		mask uint64
		typ  string
		name string
	}{
		{0x02, "Event", "name-only"},
		{0x03, "Mutant", "creator-and-name"},
		{0x06, "Event", "name-and-handle"},
		{0x0a, "Section", "name-and-quota"},
		{0x0b, "Event", "creator-name-quota"},
		{0x1f, "Event", "five-headers"},
		{0x7f, "Directory", "every-header-but-padding"},
		{0x00, "Process", ""},
		{0x01, "Event", ""},
		{0x0d, "Event", ""},
		{0x7d, "Event", ""},
	}
	bodies := map[string]string{"Event": "_KEVENT", "Mutant": "_KMUTANT", "Section": "_SECTION", "Directory": "_OBJECT_DIRECTORY", "Process": "_EPROCESS"}
	k := g.kernel()
	for _, c := range cases {
		h := g.objectInfo(types[c.typ], c.mask, bodies[c.typ], c.name, 0)
		o, err := k.ObjectAt(h, nil)
		if err != nil {
			t.Errorf("InfoMask %#x: %v", c.mask, err)
			continue
		}
		if o.Type != c.typ || o.Name != c.name || o.Body != g.body(h) {
			t.Errorf("InfoMask %#x: %s %q at %#x, want %s %q at %#x", c.mask, o.Type, o.Name, o.Body, c.typ, c.name, g.body(h))
		}
	}
}

// TestRealISFObjectNameCorruptTable: an ObpInfoMaskToOffset entry smaller
// than the name info it locates is refused, rather than reading the
// object header itself as a name.
func TestRealISFObjectNameCorruptTable(t *testing.T) {
	g := newRealGuest(t)
	types := g.objectTypes("Type", "Event")
	h := g.objectInfo(types["Event"], 0x02, "_KEVENT", "ignored", 0)
	// ObpInfoMaskToOffset left all zero: the kernel has not filled it.
	if o, err := g.kernel().ObjectAt(h, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ObjectAt with an empty ObpInfoMaskToOffset = %+v, %v; want ErrCorrupt", o, err)
	}
}

// namespace is a small object namespace on the real layout: the root
// directory "\" and the directories under it, by path.
type namespace struct {
	g     *guest
	types map[string]uint64
	dirs  map[string]uint64 // path → directory body
}

func newNamespace(g *guest, types map[string]uint64) *namespace {
	return newNamespaceRoot(g, types, 0x02)
}

// newNamespaceRoot makes the root with the InfoMask given (0: no name
// info), and points ObpRootDirectoryObject at it.
func newNamespaceRoot(g *guest, types map[string]uint64, rootMask uint64) *namespace {
	ns := &namespace{g: g, types: types, dirs: map[string]uint64{}}
	ns.dirs[`\`] = g.body(g.objectInfo(types["Directory"], rootMask, "_OBJECT_DIRECTORY", `\`, 0))
	g.mem.write(g.global("ObpRootDirectoryObject"), le(ns.dirs[`\`]))
	return ns
}

// dir makes (or finds) the directory at path, whose parent exists.
func (ns *namespace) dir(parent, name string) string {
	path := strings.TrimSuffix(parent, `\`) + `\` + name
	if _, ok := ns.dirs[path]; !ok {
		ns.dirs[path] = ns.g.body(ns.g.objectInfo(ns.types["Directory"], 0x02, "_OBJECT_DIRECTORY", name, ns.dirs[parent]))
	}
	return path
}

// levelZeroTable gives ep a one-page handle table holding headers at
// handle values 4, 8, ...; it returns the values.
func (g *guest) levelZeroTable(ep uint64, headers ...uint64) []uint64 {
	ht := g.alloc("_HANDLE_TABLE")
	g.set("_EPROCESS", ep, "ObjectTable", ht)
	page := g.allocBytes(0x1000)
	g.set("_HANDLE_TABLE", ht, "TableCode", page)
	g.set("_HANDLE_TABLE", ht, "NextHandleNeedingPool", 0x1000/16*4)
	var values []uint64
	for i, h := range headers {
		g.entry(page+uint64(i+1)*16, h, 0x1f0003)
		values = append(values, uint64(i+1)*4)
	}
	return values
}

// TestRealISFObjectPaths: a named object's name is its path in the object
// namespace, built up its name infos' Directory links to the root, and a
// file's device is named \Device\HarddiskVolume3 as Windows shows it (the
// volume's own name info says only "HarddiskVolume3"). The root is
// ObpRootDirectoryObject, so the path does not depend on the root's own
// name info.
func TestRealISFObjectPaths(t *testing.T) {
	t.Run("named root", func(t *testing.T) { testObjectPaths(t, 0x02) })
	t.Run("root without a name info", func(t *testing.T) { testObjectPaths(t, 0x00) })
}

func testObjectPaths(t *testing.T, rootMask uint64) {
	g := newRealGuest(t)
	g.fillInfoMaskToOffset()
	types := g.objectTypes("Type", "Directory", "Event", "File", "Device", "Process")
	ns := newNamespaceRoot(g, types, rootMask)
	device := ns.dir(`\`, "Device")
	bno := ns.dir(`\`, "BaseNamedObjects")
	sessionBNO := ns.dir(ns.dir(ns.dir(`\`, "Sessions"), "1"), "BaseNamedObjects")

	ready := g.objectInfo(types["Event"], 0x0a, "_KEVENT", "frost-ready", ns.dirs[bno])
	session := g.objectInfo(types["Event"], 0x03, "_KEVENT", "frost-session", ns.dirs[sessionBNO])
	unnamed := g.objectInfo(types["Event"], 0x08, "_KEVENT", "", 0)
	root := ns.dirs[`\`] - g.addr("_OBJECT_HEADER", 0, "Body")

	drv := g.alloc("_DRIVER_OBJECT")
	g.unicode(g.addr("_DRIVER_OBJECT", drv, "DriverName"), `\Driver\volmgr`)
	vol := g.objectInfo(types["Device"], 0x03, "_DEVICE_OBJECT", "HarddiskVolume3", ns.dirs[device])
	g.set("_DEVICE_OBJECT", g.body(vol), "DriverObject", drv)
	file := g.objectInfo(types["File"], 0, "_FILE_OBJECT", "", 0)
	g.set("_FILE_OBJECT", g.body(file), "DeviceObject", g.body(vol))
	g.unicode(g.addr("_FILE_OBJECT", g.body(file), "FileName"), `\Windows\System32\notepad.exe`)

	ep := g.process(0x1a4, 0x2b0, 0x1ad000, "notepad.exe")
	values := g.levelZeroTable(ep, ready, session, unnamed, root, g.objectInfo(types["Device"], 0x02, "_DEVICE_OBJECT", "HarddiskVolume3", ns.dirs[device]), file)
	want := []string{`\BaseNamedObjects\frost-ready`, `\Sessions\1\BaseNamedObjects\frost-session`, "", `\`, `\Device\HarddiskVolume3`, `\Windows\System32\notepad.exe`}
	if rootMask == 0 {
		want[3] = ""
	}

	k := g.kernel()
	p, err := k.ProcessByPID(0x1a4)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := k.Handles(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != len(want) {
		t.Fatalf("%d handles %v, want %d", len(hs), hs, len(want))
	}
	for i, h := range hs {
		if h.Value != values[i] || h.Name != want[i] {
			t.Errorf("handle %#x: %q, want %#x %q", h.Value, h.Name, values[i], want[i])
		}
	}
	f := hs[len(hs)-1]
	if f.File == nil || f.File.DeviceName != `\Device\HarddiskVolume3` || f.File.DriverName != `\Driver\volmgr` ||
		f.File.Path() != `\Device\HarddiskVolume3\Windows\System32\notepad.exe` {
		t.Errorf("file %+v, want notepad.exe on \\Device\\HarddiskVolume3 of \\Driver\\volmgr", f.File)
	}
	if h, err := k.LookupHandle(p, values[1]); err != nil || h.Name != want[1] {
		t.Errorf("LookupHandle(%#x) = %v, %v", values[1], h, err)
	}
}

// TestRealISFObjectPathBounds: a Directory chain that loops, runs deeper
// than any namespace, or passes an unnamed directory is an error, not a
// hang or a made-up path.
func TestRealISFObjectPathBounds(t *testing.T) {
	g := newRealGuest(t)
	g.fillInfoMaskToOffset()
	types := g.objectTypes("Type", "Directory", "Event")

	a := g.objectInfo(types["Directory"], 0x02, "_OBJECT_DIRECTORY", "a", 0)
	b := g.objectInfo(types["Directory"], 0x02, "_OBJECT_DIRECTORY", "b", g.body(a))
	// a's only optional header is its name info, right below it.
	g.set("_OBJECT_HEADER_NAME_INFO", a-g.size("_OBJECT_HEADER_NAME_INFO"), "Directory", g.body(b))
	loop := g.objectInfo(types["Event"], 0x02, "_KEVENT", "looped", g.body(a))

	parent := g.body(g.objectInfo(types["Directory"], 0x02, "_OBJECT_DIRECTORY", `\`, 0))
	for i := 0; i < maxNameDepth+1; i++ {
		parent = g.body(g.objectInfo(types["Directory"], 0x02, "_OBJECT_DIRECTORY", "d", parent))
	}
	deep := g.objectInfo(types["Event"], 0x02, "_KEVENT", "deep", parent)

	anon := g.objectInfo(types["Directory"], 0x00, "_OBJECT_DIRECTORY", "", 0)
	orphan := g.objectInfo(types["Event"], 0x02, "_KEVENT", "orphan", g.body(anon))
	wild := g.objectInfo(types["Event"], 0x02, "_KEVENT", "wild", 0x0000123400000000)

	k := g.kernel()
	for _, c := range []struct {
		what   string
		header uint64
		want   error
	}{
		{"a loop", loop, ErrCycle},
		{"a deep chain", deep, ErrTooLong},
		{"an unnamed directory", orphan, ErrCorrupt},
		{"a user-mode directory", wild, ErrCorrupt},
	} {
		if o, err := k.ObjectAt(c.header, nil); !errors.Is(err, c.want) {
			t.Errorf("%s: %+v, %v; want %v", c.what, o, err, c.want)
		}
	}
}

// TestRealISFTypeIndexWithoutCookie: before Windows 10 TypeIndex is stored
// as it is; a build without ObHeaderCookie is read so. mini-NT always
// scrambles.
func TestRealISFTypeIndexWithoutCookie(t *testing.T) {
	g := newGuestOn(t, realISFWith(t, []string{"ObHeaderCookie"}, nil, nil))
	typ := g.alloc("_OBJECT_TYPE")
	g.unicode(g.addr("_OBJECT_TYPE", typ, "Name"), "Mutant")
	g.mem.write(g.global("ObTypeIndexTable")+8*0x11, le(typ))
	g.next += 0x1200 // a header whose second address byte is not 0
	h := g.allocBytes(g.size("_OBJECT_HEADER") + g.size("_KMUTANT"))
	g.set("_OBJECT_HEADER", h, "TypeIndex", 0x11)
	o, err := g.kernel().ObjectAt(h, nil)
	if err != nil || o.TypeIndex != 0x11 || o.Type != "Mutant" {
		t.Errorf("ObjectAt = %+v, %v; want a Mutant, index 0x11", o, err)
	}
}
