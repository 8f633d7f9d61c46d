package pdb

import (
	"bufio"
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/frostvmi/frost/symbols/internal/testenv"
)

// dump is what the tests read from `llvm-pdbutil dump`: the independent
// answer the reader is checked against.
type dump struct {
	records  map[uint32]*dumpRecord
	publics  map[string]dumpAddr
	sections []uint32 // virtual addresses, section 1 first
	guid     string   // 32 hex digits, symbol-store order
	age      uint64
}

type dumpRecord struct {
	ti      uint32
	leaf    string
	name    string
	forward bool
	sizeof  uint64
	fields  uint32 // field list of a struct, union or enum
	utype   uint32 // an enum's underlying type

	// LF_FIELDLIST
	members    []dumpMember
	enumerates []dumpEnumerate
	next       uint32 // LF_INDEX continuation

	// LF_BITFIELD
	bitType        uint32
	bitPos, bitLen uint32
	// LF_ARRAY
	arraySize uint64
	elemType  uint32
	// LF_POINTER, LF_MODIFIER
	referent uint32
}

type dumpMember struct {
	name   string
	typ    uint32
	offset uint64
}

type dumpEnumerate struct {
	name  string
	value uint64 // as llvm-pdbutil prints it: unsigned, or negative for signed leaves
}

type dumpAddr struct {
	seg uint16
	off uint32
}

var (
	reRecord    = regexp.MustCompile("^\\s*0x([0-9A-F]+) \\| (LF_\\w+) \\[size = \\d+\\](?: `(.*)`)?")
	reOptions   = regexp.MustCompile(`options: (.*), sizeof (\d+)`)
	reFieldList = regexp.MustCompile(`field list: (0x[0-9A-F]+|<no type>)`)
	reUnderType = regexp.MustCompile(`underlying type: (0x[0-9A-F]+)`)
	reEnumOpts  = regexp.MustCompile(`^\s*options: (.*)$`)
	reMember    = regexp.MustCompile("- LF_MEMBER \\[name = `(.*)`, Type = (0x[0-9A-F]+).*, offset = (\\d+), attrs")
	reEnumerate = regexp.MustCompile(`- LF_ENUMERATE \[(.*) = (-?\d+)\]`)
	reIndex     = regexp.MustCompile(`- LF_INDEX continuation = (0x[0-9A-F]+)`)
	reBitfield  = regexp.MustCompile(`type = (0x[0-9A-F]+).*, bit offset = (\d+), # bits = (\d+)`)
	reArray     = regexp.MustCompile(`size: (\d+), index type: 0x[0-9A-F]+.*, element type: (0x[0-9A-F]+)`)
	reReferent  = regexp.MustCompile(`referent = (0x[0-9A-F]+)`)
	rePublic    = regexp.MustCompile("S_PUB32 \\[size = \\d+\\] `(.*)`")
	rePubAddr   = regexp.MustCompile(`addr = (\d+):(\d+)`)
	reSecVA     = regexp.MustCompile(`^\s*([0-9A-F]+) virtual address`)
	reGUID      = regexp.MustCompile(`(?m)^\s*GUID: \{([0-9A-Fa-f-]+)\}`)
	reAge       = regexp.MustCompile(`(?m)^\s*Age: (\d+)`)
)

func hex32(t *testing.T, s string) uint32 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 32)
	if err != nil {
		t.Fatalf("llvm-pdbutil printed %q as a type index: %v", s, err)
	}
	return uint32(v)
}

func dec(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("llvm-pdbutil printed %q as a number: %v", s, err)
	}
	return v
}

// readDump runs llvm-pdbutil on pdb and parses its types, publics,
// section headers and summary.
func readDump(t *testing.T, pdb string) *dump {
	t.Helper()
	d := readDumpOf(t, pdb)
	if len(d.records) == 0 || len(d.publics) == 0 || len(d.sections) == 0 {
		t.Fatalf("llvm-pdbutil gave %d type records, %d publics, %d sections: the dump format changed?",
			len(d.records), len(d.publics), len(d.sections))
	}
	return d
}

// readDumpOf is readDump without the check that every part was found.
func readDumpOf(t *testing.T, pdb string) *dump {
	t.Helper()
	testenv.RequireTools(t, "llvm-pdbutil")
	d := &dump{records: map[uint32]*dumpRecord{}, publics: map[string]dumpAddr{}}

	sc := bufio.NewScanner(bytes.NewReader(testenv.Run(t, "", "llvm-pdbutil", "dump", "-types", pdb)))
	sc.Buffer(nil, 1<<20)
	var cur *dumpRecord
	for sc.Scan() {
		line := sc.Text()
		if m := reRecord.FindStringSubmatch(line); m != nil {
			cur = &dumpRecord{ti: hex32(t, m[1]), leaf: m[2], name: m[3]}
			d.records[cur.ti] = cur
			continue
		}
		if cur == nil {
			continue
		}
		switch cur.leaf {
		case "LF_STRUCTURE", "LF_CLASS", "LF_UNION":
			if m := reFieldList.FindStringSubmatch(line); m != nil && m[1] != "<no type>" {
				cur.fields = hex32(t, m[1])
			}
			if m := reOptions.FindStringSubmatch(line); m != nil {
				cur.forward = strings.Contains(m[1], "forward ref")
				cur.sizeof = dec(t, m[2])
			}
		case "LF_ENUM":
			if m := reFieldList.FindStringSubmatch(line); m != nil && m[1] != "<no type>" {
				cur.fields = hex32(t, m[1])
			}
			if m := reUnderType.FindStringSubmatch(line); m != nil {
				cur.utype = hex32(t, m[1])
			}
			if m := reEnumOpts.FindStringSubmatch(line); m != nil {
				cur.forward = strings.Contains(m[1], "forward ref")
			}
		case "LF_FIELDLIST":
			if m := reMember.FindStringSubmatch(line); m != nil {
				cur.members = append(cur.members, dumpMember{m[1], hex32(t, m[2]), dec(t, m[3])})
			} else if m := reEnumerate.FindStringSubmatch(line); m != nil {
				v, err := strconv.ParseInt(m[2], 10, 64)
				if err != nil {
					v = int64(dec(t, m[2]))
				}
				cur.enumerates = append(cur.enumerates, dumpEnumerate{m[1], uint64(v)})
			} else if m := reIndex.FindStringSubmatch(line); m != nil {
				cur.next = hex32(t, m[1])
			}
		case "LF_BITFIELD":
			if m := reBitfield.FindStringSubmatch(line); m != nil {
				cur.bitType, cur.bitPos, cur.bitLen = hex32(t, m[1]), uint32(dec(t, m[2])), uint32(dec(t, m[3]))
			}
		case "LF_ARRAY":
			if m := reArray.FindStringSubmatch(line); m != nil {
				cur.arraySize, cur.elemType = dec(t, m[1]), hex32(t, m[2])
			}
		case "LF_POINTER", "LF_MODIFIER":
			if m := reReferent.FindStringSubmatch(line); m != nil {
				cur.referent = hex32(t, m[1])
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	var name string
	for _, line := range strings.Split(string(testenv.Run(t, "", "llvm-pdbutil", "dump", "-publics", pdb)), "\n") {
		if m := rePublic.FindStringSubmatch(line); m != nil {
			name = m[1]
		} else if m := rePubAddr.FindStringSubmatch(line); m != nil && name != "" {
			d.publics[name] = dumpAddr{uint16(dec(t, m[1])), uint32(dec(t, m[2]))}
			name = ""
		}
	}
	for _, line := range strings.Split(string(testenv.Run(t, "", "llvm-pdbutil", "dump", "-section-headers", pdb)), "\n") {
		if m := reSecVA.FindStringSubmatch(line); m != nil {
			v, err := strconv.ParseUint(m[1], 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			d.sections = append(d.sections, uint32(v))
		}
	}
	summary := testenv.Run(t, "", "llvm-pdbutil", "dump", "-summary", pdb)
	g, a := reGUID.FindSubmatch(summary), reAge.FindSubmatch(summary)
	if g == nil || a == nil {
		t.Fatalf("no GUID or Age in llvm-pdbutil dump -summary:\n%s", summary)
	}
	d.guid = strings.ToUpper(strings.ReplaceAll(string(g[1]), "-", ""))
	d.age = dec(t, string(a[1]))
	return d
}

// fieldList gathers the members and enumerators of a field list and its
// LF_INDEX continuations.
func (d *dump) fieldList(ti uint32) ([]dumpMember, []dumpEnumerate) {
	var ms []dumpMember
	var es []dumpEnumerate
	seen := map[uint32]bool{}
	for ti != 0 && !seen[ti] {
		seen[ti] = true
		r := d.records[ti]
		if r == nil {
			break
		}
		ms = append(ms, r.members...)
		es = append(es, r.enumerates...)
		ti = r.next
	}
	return ms, es
}

// unnamed reports the names compilers give anonymous types; the reader
// renames those, so they are checked through their parents.
func unnamed(name string) bool {
	return strings.Contains(name, "<unnamed-tag>") || strings.Contains(name, "__unnamed")
}
