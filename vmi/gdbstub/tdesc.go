package gdbstub

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// RegisterInfo is one register of the target description.
type RegisterInfo struct {
	Name    string
	Number  int // the number "p" and "P" take
	BitSize int
	Offset  int // byte offset in the "g" packet
	Type    string
	Group   string
	Feature string // the <feature> it came from, e.g. org.gnu.gdb.i386.core
}

// Size is the register's width in bytes.
func (r RegisterInfo) Size() int { return (r.BitSize + 7) / 8 }

// RegisterMap is the register layout from target.xml and its includes.
// Numbers and sizes come from the XML, never from this package: a stub
// version that adds a register moves every number after it.
type RegisterMap struct {
	arch   string
	regs   []RegisterInfo // in Number order, which is "g" order
	byName map[string]int
	size   int
}

// Architecture is target.xml's <architecture>, e.g. "i386:x86-64".
func (m *RegisterMap) Architecture() string { return m.arch }

// Size is the length in bytes of a complete "g" packet.
func (m *RegisterMap) Size() int { return m.size }

// Registers lists every register in "g" order.
func (m *RegisterMap) Registers() []RegisterInfo { return slices.Clone(m.regs) }

// Lookup finds a register by name.
func (m *RegisterMap) Lookup(name string) (RegisterInfo, bool) {
	i, ok := m.byName[name]
	if !ok {
		return RegisterInfo{}, false
	}
	return m.regs[i], true
}

// Bounds on the description. QEMU's x86-64 one is two files, ~10 KiB and
// 66 registers; these stop a stub from making us fetch or hold more than a
// sane description could need.
const (
	maxDescFiles    = 32
	maxDescDepth    = 8
	maxDescBytes    = 1 << 20 // per file
	maxDescRegs     = 4096
	maxRegisterBits = 4096 // wider than any real register (zmm is 512)
)

// fetchFunc reads one description file by its qXfer annex.
type fetchFunc func(annex string) ([]byte, error)

// loadTargetDescription reads target.xml and every file it includes.
func loadTargetDescription(fetch fetchFunc) (*RegisterMap, error) {
	l := &descLoader{fetch: fetch, seen: map[string]bool{}}
	if err := l.load("target.xml", 0); err != nil {
		return nil, err
	}
	return l.build()
}

// xmlReg is a <reg> element.
type xmlReg struct {
	Name    string `xml:"name,attr"`
	BitSize string `xml:"bitsize,attr"`
	RegNum  string `xml:"regnum,attr"`
	Type    string `xml:"type,attr"`
	Group   string `xml:"group,attr"`
}

type descLoader struct {
	fetch   fetchFunc
	seen    map[string]bool
	files   int
	arch    string
	regs    []RegisterInfo
	nextNum int
}

func (l *descLoader) load(annex string, depth int) error {
	if depth > maxDescDepth {
		return protocolErr("target description: includes nested deeper than %d at %s", maxDescDepth, annex)
	}
	if l.seen[annex] {
		return protocolErr("target description: %s is included twice", annex)
	}
	l.seen[annex] = true
	if l.files++; l.files > maxDescFiles {
		return protocolErr("target description: more than %d files", maxDescFiles)
	}
	data, err := l.fetch(annex)
	if err != nil {
		return fmt.Errorf("gdbstub: reading %s: %w", annex, err)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	// The DTD is not ours to fetch, and QEMU's XML declares no entities.
	dec.Strict = true
	feature := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return protocolErr("target description %s: %v", annex, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			if ee, ok := tok.(xml.EndElement); ok && ee.Name.Local == "feature" {
				feature = ""
			}
			continue
		}
		switch se.Name.Local {
		case "architecture":
			var arch string
			if err := dec.DecodeElement(&arch, &se); err != nil {
				return protocolErr("target description %s: architecture: %v", annex, err)
			}
			l.arch = strings.TrimSpace(arch)
		case "feature":
			feature = attr(se, "name")
		case "include":
			href := attr(se, "href")
			if !validAnnex(href) {
				return protocolErr("target description %s: include of %q", annex, href)
			}
			if err := l.load(href, depth+1); err != nil {
				return err
			}
		case "reg":
			var r xmlReg
			if err := dec.DecodeElement(&r, &se); err != nil {
				return protocolErr("target description %s: reg: %v", annex, err)
			}
			if err := l.addReg(annex, feature, r); err != nil {
				return err
			}
		}
	}
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// validAnnex keeps an include name from breaking the qXfer packet it goes
// into: the annex ends at ':' and the packet cannot carry control bytes.
func validAnnex(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == ':' || c == ',' || c == ';' || needsEscape(c) {
			return false
		}
	}
	return true
}

func (l *descLoader) addReg(annex, feature string, r xmlReg) error {
	bad := func(format string, args ...any) error {
		return protocolErr("target description %s: register %q: %s", annex, r.Name, fmt.Sprintf(format, args...))
	}
	if r.Name == "" {
		return bad("no name")
	}
	bits, err := strconv.Atoi(r.BitSize)
	if err != nil || bits <= 0 || bits > maxRegisterBits {
		return bad("bitsize %q", r.BitSize)
	}
	num := l.nextNum
	if r.RegNum != "" {
		if num, err = strconv.Atoi(r.RegNum); err != nil || num < 0 || num > 1<<20 {
			return bad("regnum %q", r.RegNum)
		}
	}
	if len(l.regs) >= maxDescRegs {
		return bad("more than %d registers", maxDescRegs)
	}
	l.regs = append(l.regs, RegisterInfo{Name: r.Name, Number: num, BitSize: bits, Type: r.Type, Group: r.Group, Feature: feature})
	l.nextNum = num + 1
	return nil
}

func (l *descLoader) build() (*RegisterMap, error) {
	if len(l.regs) == 0 {
		return nil, protocolErr("target description names no registers")
	}
	regs := slices.Clone(l.regs)
	slices.SortStableFunc(regs, func(a, b RegisterInfo) int { return a.Number - b.Number })
	m := &RegisterMap{arch: l.arch, regs: regs, byName: make(map[string]int, len(regs))}
	for i := range regs {
		if i > 0 && regs[i].Number == regs[i-1].Number {
			return nil, protocolErr("target description: %s and %s share number %d", regs[i-1].Name, regs[i].Name, regs[i].Number)
		}
		if _, dup := m.byName[regs[i].Name]; dup {
			return nil, protocolErr("target description: register %s named twice", regs[i].Name)
		}
		regs[i].Offset = m.size
		m.size += regs[i].Size()
		m.byName[regs[i].Name] = i
	}
	return m, nil
}
