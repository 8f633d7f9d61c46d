package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// sharingTarget is a fake whose RAM is a file it can hand out, as a guest
// with a shared RAM file does.
type sharingTarget struct {
	*vmitest.Target
	path string
	size uint64
}

func (s *sharingTarget) ShareRAM(context.Context) (*vmi.SharedRAM, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, err
	}
	return &vmi.SharedRAM{File: f, Size: s.size, Kind: vmi.MemorySharedFile,
		Ranges: []vmi.PhysicalRange{{GPA: 0, Size: 0xa0000}, {GPA: 0x100000, Size: s.size - 0x100000, Offset: 0x100000}}}, nil
}

// localMemServer serves the side socket over a registry with "shared"
// (RAM in a file) and "private" (no shareable RAM), and returns its path
// and the RAM file's bytes.
func localMemServer(t *testing.T) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	ram := bytes.Repeat([]byte("frost-ram"), (1<<20)/9+1)[:1<<20]
	path := filepath.Join(dir, "ram")
	if err := os.WriteFile(path, ram, 0o600); err != nil {
		t.Fatal(err)
	}
	c := testConfig(&Config{Registry: session.NewRegistry(nil, nil)})
	shared, err := vmitest.New(vmitest.Config{Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	private, err := vmitest.New(vmitest.Config{Name: "private"})
	if err != nil {
		t.Fatal(err)
	}
	addVM(t, c, "shared", &sharingTarget{Target: shared, path: path, size: uint64(len(ram))})
	addVM(t, c, "private", private)
	sock := filepath.Join(dir, "frostd.mem.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	lm := &LocalMemory{Registry: c.Registry}
	done := make(chan error, 1)
	go func() { done <- lm.Serve(l) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return sock, ram
}

// exchange sends req (raw bytes) and returns the reply line and any
// descriptors that came with it.
func exchange(t *testing.T, sock string, req []byte) (LocalMemReply, []int) {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	uc := conn.(*net.UnixConn)
	if _, err := uc.Write(req); err != nil {
		// frostd may have refused and closed before reading it all.
		t.Logf("write: %v", err)
	}
	uc.CloseWrite()
	buf := make([]byte, 64<<10)
	oob := make([]byte, syscall.CmsgSpace(16))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	if oobn > 0 {
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			t.Fatal(err)
		}
		for i := range msgs {
			got, err := syscall.ParseUnixRights(&msgs[i])
			if err != nil {
				t.Fatal(err)
			}
			fds = append(fds, got...)
		}
	}
	line, err := prefixed(buf[:n], uc).ReadString('\n')
	if err != nil {
		t.Fatalf("reply %q: %v", line, err)
	}
	var rep LocalMemReply
	if err := json.Unmarshal([]byte(line), &rep); err != nil {
		t.Fatalf("reply %q: %v", line, err)
	}
	return rep, fds
}

func prefixed(first []byte, rest net.Conn) *bufio.Reader {
	return bufio.NewReader(&prefixReader{first: first, rest: rest})
}

type prefixReader struct {
	first []byte
	rest  net.Conn
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.first) > 0 {
		n := copy(b, p.first)
		p.first = p.first[n:]
		return n, nil
	}
	return p.rest.Read(b)
}

// TestLocalMemoryHandsOutReadOnlyRAM: a good request gets the map and a
// read-only descriptor of the RAM file, whose bytes are guest RAM.
func TestLocalMemoryHandsOutReadOnlyRAM(t *testing.T) {
	sock, ram := localMemServer(t)
	rep, fds := exchange(t, sock, []byte(`{"version":1,"vm":"shared"}`+"\n"))
	for _, fd := range fds {
		defer syscall.Close(fd)
	}
	if rep.Code != "" || len(fds) != 1 {
		t.Fatalf("reply %+v with %d descriptors", rep, len(fds))
	}
	if rep.Size != uint64(len(ram)) || len(rep.Ranges) != 2 || rep.Ranges[1].GPA != 0x100000 || rep.Ranges[1].Offset != 0x100000 {
		t.Errorf("map %+v", rep)
	}
	fl, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[0]), syscall.F_GETFL, 0)
	if errno != 0 || fl&syscall.O_ACCMODE != syscall.O_RDONLY {
		t.Errorf("F_GETFL %#x (%v): not O_RDONLY", fl, errno)
	}
	if _, err := syscall.Mmap(fds[0], 0, len(ram), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED); err == nil {
		t.Error("the handed-out RAM maps writable")
	}
	data, err := syscall.Mmap(fds[0], 0, len(ram), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(data)
	if !bytes.Equal(data, ram) {
		t.Error("the mapping is not the RAM file")
	}
}

// TestLocalMemoryRefusesBadInput: garbage, a huge line, a wrong version,
// a missing name, an unknown VM and RAM that cannot be shared each get a
// refusal with its code, never a descriptor, and the server serves on.
func TestLocalMemoryRefusesBadInput(t *testing.T) {
	sock, _ := localMemServer(t)
	huge := `{"version":1,"vm":"` + strings.Repeat("A", 1<<20) + `"}` + "\n"
	for _, tc := range []struct {
		name, req, code string
	}{
		{"garbage", "hello frostd\n", LocalMemBadRequest},
		{"no newline", `{"version":1,"vm":"shared"}`, LocalMemBadRequest},
		{"huge line", huge, LocalMemBadRequest},
		{"unknown field", `{"version":1,"vm":"shared","write":true}` + "\n", LocalMemBadRequest},
		{"version 2", `{"version":2,"vm":"shared"}` + "\n", LocalMemBadVersion},
		{"no version", `{"vm":"shared"}` + "\n", LocalMemBadVersion},
		{"empty vm", `{"version":1,"vm":""}` + "\n", LocalMemBadRequest},
		{"long vm", `{"version":1,"vm":"` + strings.Repeat("v", 300) + `"}` + "\n", LocalMemBadRequest},
		{"unknown vm", `{"version":1,"vm":"nosuch"}` + "\n", LocalMemNotAttached},
		{"private RAM", `{"version":1,"vm":"private"}` + "\n", LocalMemNotShareable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, fds := exchange(t, sock, []byte(tc.req))
			for _, fd := range fds {
				syscall.Close(fd)
			}
			if rep.Code != tc.code || rep.Error == "" || len(fds) != 0 || rep.Size != 0 {
				t.Errorf("reply %+v with %d descriptors; want code %s and none", rep, len(fds), tc.code)
			}
			if len(rep.Error) > 1024 {
				t.Errorf("the refusal is %d bytes: it echoes the request", len(rep.Error))
			}
		})
	}
	// Still serving.
	if rep, fds := exchange(t, sock, []byte(`{"version":1,"vm":"shared"}`+"\n")); rep.Code != "" || len(fds) != 1 {
		t.Errorf("after bad input: %+v, %d descriptors", rep, len(fds))
	} else {
		syscall.Close(fds[0])
	}
}

func TestLocalMemorySocketPath(t *testing.T) {
	for in, want := range map[string]string{
		"/run/frost/frostd.sock": "/run/frost/frostd.mem.sock",
		"/tmp/x/api":             "/tmp/x/api.mem.sock",
	} {
		if got := LocalMemorySocket(in); got != want {
			t.Errorf("LocalMemorySocket(%q) = %q, want %q", in, got, want)
		}
	}
}
