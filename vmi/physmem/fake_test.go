package physmem

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/frostvmi/frost/vmi/qmp"
)

// A small PC-like machine for unit tests: 3 MiB of RAM in block "mem",
// with the VGA hole and BIOS shadow of a PC below 1 MiB, and the last
// MiB of the block aliased above 4 GiB, as QEMU does with RAM above the
// PCI hole.
const (
	fakeBlockSize = 3 << 20
	fakeHighGPA   = 0x100000000
	fakeHighOff   = 2 << 20
)

const fakeMtree = "FlatView #0\r\n" +
	" AS \"cpu-smm-0\", root: memory\r\n" +
	" Root memory region: memory\r\n" +
	"  0000000000000000-00000000000bffff (prio 0, ram): mem\r\n" +
	"\r\n" +
	"FlatView #1\r\n" +
	" AS \"memory\", root: system\r\n" +
	" AS \"cpu-memory-0\", root: system\r\n" +
	" Root memory region: system\r\n" +
	"  0000000000000000-000000000009ffff (prio 0, ram): mem\r\n" +
	"  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem\r\n" +
	"  00000000000c0000-00000000000fffff (prio 0, rom): mem @00000000000c0000\r\n" +
	"  0000000000100000-00000000001fffff (prio 0, ram): mem @0000000000100000\r\n" +
	"  00000000fd000000-00000000fdffffff (prio 1, ram): vga.vram\r\n" +
	"  00000000fed00000-00000000fed003ff (prio 0, i/o): hpet\r\n" +
	"  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\r\n" +
	"  0000000100000000-00000001000fffff (prio 0, ram): mem @0000000000200000\r\n"

const fakeRAMBlocks = "              Block Name    PSize              Offset               Used              Total\r\n" +
	"                     mem    4 KiB  0x0000000000000000 0x0000000000300000 0x0000000000300000\r\n" +
	"   0000:00:02.0/vga.vram    4 KiB  0x0000000000380000 0x0000000001000000 0x0000000001000000\r\n" +
	"                 pc.bios    4 KiB  0x0000000000300000 0x0000000000040000 0x0000000000040000\r\n"

func fakeMap(t testing.TB) *Map {
	t.Helper()
	views, err := qmp.ParseMemoryTree(fakeMtree)
	if err != nil {
		t.Fatal(err)
	}
	view, err := qmp.SystemView(views)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := qmp.ParseRAMBlocks(fakeRAMBlocks)
	if err != nil {
		t.Fatal(err)
	}
	block, err := GuestRAMBlock(view, blocks)
	if err != nil {
		t.Fatal(err)
	}
	gm, err := NewMap(view, block)
	if err != nil {
		t.Fatal(err)
	}
	return gm
}

// pattern fills a RAM image so that every 8-byte word holds its own block
// offset, xor a salt: any misplaced byte shows.
func pattern(size int, salt uint64) []byte {
	b := make([]byte, size)
	for i := 0; i+8 <= size; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], uint64(i)^salt)
	}
	return b
}

// writeRAMFile writes image to a file standing in for QEMU's RAM file.
func writeRAMFile(t testing.TB, image []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ram")
	if err := os.WriteFile(path, image, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// imageRef is a Reference over a RAM image and a Map: what a correct
// gdbstub in physical mode returns.
type imageRef struct {
	gm    *Map
	image []byte
	reads int
}

func (r *imageRef) ReadPhysical(_ context.Context, gpa uint64, p []byte) error {
	r.reads++
	off, n, err := r.gm.Translate(gpa)
	if err != nil {
		return err
	}
	if n < uint64(len(p)) {
		return fmt.Errorf("imageRef: read crosses a range end at %#x", gpa+n)
	}
	copy(p, r.image[off:])
	return nil
}

// fakeMonitor answers the QMP commands Open and MapFromMonitor send, from
// canned text and a list of backends.
type fakeMonitor struct {
	mtree, ramblock string
	backends        []qmp.MemoryBackend
}

func (f *fakeMonitor) Execute(_ context.Context, cmd string, args, result any) error {
	a, _ := args.(map[string]string)
	var v any
	switch cmd {
	case "human-monitor-command":
		switch a["command-line"] {
		case "info mtree -f":
			v = f.mtree
		case "info ramblock":
			v = f.ramblock
		default:
			return fmt.Errorf("fake: HMP %q", a["command-line"])
		}
	case "qom-list":
		props := []qmp.QOMProperty{{Name: "type", Type: "string"}}
		for _, b := range f.backends {
			props = append(props, qmp.QOMProperty{Name: b.ID, Type: "child<" + b.Type + ">"})
		}
		v = props
	case "qom-get":
		for _, b := range f.backends {
			if a["path"] != "/objects/"+b.ID {
				continue
			}
			switch a["property"] {
			case "size":
				v = b.Size
			case "share":
				v = b.Share
			case "mem-path":
				v = b.MemPath
			}
		}
		if v == nil {
			return &qmp.Error{Command: cmd, Class: qmp.ClassDeviceNotFound, Desc: "no " + a["path"]}
		}
	default:
		return &qmp.Error{Command: cmd, Class: qmp.ClassCommandNotFound, Desc: cmd}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, result)
}
