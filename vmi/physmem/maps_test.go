package physmem

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestParseMaps(t *testing.T) {
	text := "55d0c0a00000-55d0c0b00000 r-xp 00000000 08:01 1234                       /usr/bin/qemu-system-x86_64\n" +
		"7f5e40000000-7f5e48000000 rw-s 00000000 00:1a 98765                      /dev/shm/frost-1-ab cd\n" +
		"7f5e50000000-7f5e58000000 rw-p 00000000 00:00 0 \n" +
		"7f5e60000000-7f5e60001000 rw-s 00000000 00:01 4242                       /memfd:memory-backend-memfd (deleted)\n" +
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
	maps, err := parseMaps(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) != 5 {
		t.Fatalf("%d mappings", len(maps))
	}
	m := maps[1]
	if m.start != 0x7f5e40000000 || m.size() != 128<<20 || m.perms != "rw-s" || m.major != 0 || m.minor != 0x1a ||
		m.inode != 98765 || m.path != "/dev/shm/frost-1-ab cd" || !m.readable() {
		t.Errorf("shared file mapping %+v", m)
	}
	if maps[2].path != "" || maps[3].path != "/memfd:memory-backend-memfd (deleted)" || maps[4].readable() {
		t.Errorf("mappings %+v", maps)
	}
	for _, bad := range []string{"zz-10 rw-p 0 00:00 0", "10-0 rw-p 0 00:00 0", "0-10 rw-p 0 00:00", "0-10 rw-p x 00:00 0", "0-10 rw-p 0 0000 0", "0-10 rw-p 0 00:00 x"} {
		if _, err := parseMaps(strings.NewReader(bad + "\n")); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// The maps device column must agree with stat's dev_t for checkMapped.
func TestDevNumbersMatchMaps(t *testing.T) {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	sys := st.Sys().(*syscall.Stat_t)
	mf, _ := os.Open("/proc/self/maps")
	defer mf.Close()
	maps, err := parseMaps(mf)
	if err != nil {
		t.Fatal(err)
	}
	major, minor := devNumbers(uint64(sys.Dev))
	for _, m := range maps {
		if m.inode == sys.Ino && m.major == major && m.minor == minor {
			return
		}
	}
	t.Errorf("the test binary (dev %d:%d inode %d) is not found in its own maps", major, minor, sys.Ino)
}
