package physmem

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// mapping is one line of /proc/<pid>/maps.
type mapping struct {
	start, end uint64
	perms      string // "rw-s"
	offset     uint64 // file offset of start
	major      uint32
	minor      uint32
	inode      uint64
	path       string // "" for anonymous memory; may end in " (deleted)"
}

func (m mapping) size() uint64 { return m.end - m.start }

func (m mapping) readable() bool { return len(m.perms) > 0 && m.perms[0] == 'r' }

func (m mapping) String() string {
	p := m.path
	if p == "" {
		p = "[anonymous]"
	}
	return fmt.Sprintf("%#x-%#x %s %s", m.start, m.end, m.perms, p)
}

// maxMapsLines bounds the parse: QEMU has a few hundred mappings.
const maxMapsLines = 1 << 20

// parseMaps parses /proc/<pid>/maps.
func parseMaps(r io.Reader) ([]mapping, error) {
	var out []mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if n > maxMapsLines {
			return nil, fmt.Errorf("physmem: maps: more than %d lines", maxMapsLines)
		}
		m, err := parseMapsLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("physmem: maps line %d: %w: %q", n, err, sc.Text())
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("physmem: maps: %w", err)
	}
	return out, nil
}

// parseMapsLine parses
// "7f0000000000-7f0008000000 rw-s 00000000 00:1a 12345   /dev/shm/x".
func parseMapsLine(line string) (mapping, error) {
	var m mapping
	f := strings.Fields(line)
	if len(f) < 5 {
		return m, fmt.Errorf("too few fields")
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return m, fmt.Errorf("bad address range")
	}
	var err error
	if m.start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return m, fmt.Errorf("bad start address")
	}
	if m.end, err = strconv.ParseUint(hi, 16, 64); err != nil || m.end < m.start {
		return m, fmt.Errorf("bad end address")
	}
	m.perms = f[1]
	if m.offset, err = strconv.ParseUint(f[2], 16, 64); err != nil {
		return m, fmt.Errorf("bad offset")
	}
	maj, min, ok := strings.Cut(f[3], ":")
	if !ok {
		return m, fmt.Errorf("bad device")
	}
	ma, err1 := strconv.ParseUint(maj, 16, 32)
	mi, err2 := strconv.ParseUint(min, 16, 32)
	if err1 != nil || err2 != nil {
		return m, fmt.Errorf("bad device")
	}
	m.major, m.minor = uint32(ma), uint32(mi)
	if m.inode, err = strconv.ParseUint(f[4], 10, 64); err != nil {
		return m, fmt.Errorf("bad inode")
	}
	// The path is the rest of the line after the inode, and may hold
	// spaces; the kernel pads before it.
	if len(f) > 5 {
		i := strings.Index(line, f[4]+" ")
		if i >= 0 {
			m.path = strings.TrimLeft(line[i+len(f[4]):], " ")
		}
	}
	return m, nil
}

// devNumbers splits a Linux dev_t (stat's Dev) the way the kernel's
// new_encode_dev does, to compare with the maps device column.
func devNumbers(dev uint64) (major, minor uint32) {
	major = uint32((dev>>8)&0xfff | (dev>>32)&^uint64(0xfff))
	minor = uint32(dev&0xff | (dev>>12)&^uint64(0xff))
	return
}
