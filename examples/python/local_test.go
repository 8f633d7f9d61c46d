package python

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// localScript drives frost_local.Reader against the fake side socket,
// with a stand-in for frostd's MemoryService that serves 'T' bytes for
// whatever it is asked and records the requests.
const localScript = `
import sys, types
sys.path.insert(0, sys.argv[1])
import frost_local

class Req:
    def __init__(self, **kw): self.__dict__.update(kw)

class Page:
    def __init__(self, offset, length, served): self.offset, self.length, self.served = offset, length, served

class Stub:
    calls = []
    def ReadVirtual(self, req, timeout=None):
        self.calls.append((req.address, req.length))
        return types.SimpleNamespace(data=b"T" * req.length, dtb=0x1000, pages=[Page(0, req.length, True)])
    def ReadPhysical(self, req, timeout=None):
        self.calls.append(("phys", req.address, req.length))
        return types.SimpleNamespace(data=b"P" * req.length, pages=[Page(0, req.length, True)])

pb = types.SimpleNamespace(ReadVirtualRequest=Req, ReadPhysicalRequest=Req, AddressSpace=Req)
stub = Stub()
r = frost_local.Reader(sys.argv[2], "vm", stub, pb, pb)
assert r.ram is not None, r.why
print("mapped", r.kind, len(r.ram))
data, _ = r.read_virtual(42, 0x400000, 8192)   # learns the DTB: one call
assert stub.calls == [(0x400000, 8192)], stub.calls
data, unserved = r.read_virtual(42, 0x400000, 8192)
assert stub.calls[1:] == [(0x401000, 4096)], stub.calls
ram = open(sys.argv[3], "rb").read()
assert data[:4096] == ram[0x10000:0x11000], "present page not from the mapping"
assert data[4096:] == b"T" * 4096, "non-present page not frostd's"
assert r.walk(0x1000, 0x400123) == 0x10123
assert r.walk(0x1000, 0x401000) is None
d, _ = r.read_physical(0x20000, 4096)
assert d == ram[0x20000:0x21000]
n = len(stub.calls)
d, _ = r.read_physical((1 << 20) - 16, 4096)   # past RAM: frostd's
assert len(stub.calls) == n + 1 and d == b"P" * 4096
print("local reader ok")
`

// TestPythonLocalReader runs frost_local.Reader (the Python example's
// local path) against a side socket that hands out a RAM file with
// page tables: a present page comes from the mapping, a non-present one
// and a read past RAM from frostd, and the walk is the processor's.
func TestPythonLocalReader(t *testing.T) {
	need(t, "python3", "Debian's python3", exec.Command("/usr/bin/python3", "-c", "import mmap").Run())
	dir := t.TempDir()
	img := make([]byte, 1<<20)
	for i := range img {
		img[i] = byte(i * 7)
	}
	clear(img[0x1000:0x5000])
	put := func(pa, v uint64) { binary.LittleEndian.PutUint64(img[pa:], v) }
	put(0x1000, 0x2000|3)
	put(0x2000, 0x3000|3)
	put(0x3000+8*2, 0x4000|3)
	put(0x4000, 0x10000|3)
	put(0x4008, 0x12345c00) // not present
	ramPath := filepath.Join(dir, "ram")
	if err := os.WriteFile(ramPath, img, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "frostd.sock")
	side, err := net.Listen("unix", filepath.Join(dir, "frostd.mem.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer side.Close()
	go func() {
		for {
			c, err := side.Accept()
			if err != nil {
				return
			}
			func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadBytes('\n')
				var req struct {
					Version int    `json:"version"`
					VM      string `json:"vm"`
				}
				if err != nil || json.Unmarshal(line, &req) != nil || req.Version != 1 {
					return
				}
				f, err := os.Open(ramPath)
				if err != nil {
					return
				}
				defer f.Close()
				rep, _ := json.Marshal(map[string]any{"version": 1, "vm": req.VM, "kind": "shared RAM file", "size": len(img),
					"ranges": []map[string]any{{"gpa": 0, "size": len(img), "offset": 0, "read_only": false}}})
				c.(*net.UnixConn).WriteMsgUnix(append(rep, '\n'), syscall.UnixRights(int(f.Fd())), nil)
			}()
		}
	}()
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "-c", localScript, here, sock, ramPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "local reader ok") {
		t.Fatalf("frost_local: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
