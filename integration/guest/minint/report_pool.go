package minint

import (
	"fmt"
	"strconv"
	"strings"
)

// The pool and the object namespace (issue 15.4, 15.7), as the guest
// reports them: typed views of the info-mask-to-offset, pool-object,
// pool-big-table, pool-big, directory, directory-entry and mutant events.
// Each view checks what follows from Windows' rules (block sizes in
// 16-byte units, an object header inside its block, a directory entry in
// the bucket its hash names), so a test never builds on a report that
// contradicts itself.

// poolBuddyMax is the largest small pool block (255 units of 16 bytes);
// bigger allocations are whole pages in PoolBigPageTable.
const poolBuddyMax = 0xFF0

// directoryBuckets is the number of hash buckets of _OBJECT_DIRECTORY.
const directoryBuckets = 37

// InfoMaskToOffset is the info-mask-to-offset event: ObpInfoMaskToOffset
// and the entries for the creator info, the name info and both.
type InfoMaskToOffset struct {
	Address                    uint64
	Creator, Name, CreatorName uint64
	All                        uint64 // entry 0xff: every optional header
}

// PoolObject is a pool-object event: an object's pool block. Events are
// not reported (writer.exe alone opens 300).
type PoolObject struct {
	Type      string // its type's name: Process, File, Mutant, ...
	Tag       string // the pool tag, 4 characters
	Pool      uint64 // the _POOL_HEADER
	BlockSize uint64 // bytes, header included
	PoolType  uint64 // as stored: base type | 2 (in use)
	Header    uint64 // the _OBJECT_HEADER
	Object    uint64 // the body
	InfoMask  uint64
}

// BigPageTable is the pool-big-table event: PoolBigPageTable.
type BigPageTable struct {
	Address   uint64
	Entries   uint64 // PoolBigPageTableSize
	EntrySize uint64 // sizeof(_POOL_TRACKER_BIG_PAGES)
}

// BigPage is a pool-big event: an allocation of whole pages, and the
// PoolBigPageTable entry that records it.
type BigPage struct {
	VA       uint64
	Tag      string
	Bytes    uint64
	PoolType uint64
	Entry    uint64 // the _POOL_TRACKER_BIG_PAGES
}

// Directory is a directory event: a directory object.
type Directory struct {
	Name           string // its path: \, \Device, ...
	Object, Header uint64
}

// DirectoryEntry is a directory-entry event: a named object inserted
// into a directory.
type DirectoryEntry struct {
	Directory string // the directory's path
	Name      string // the object's last component
	Type      string
	Object    uint64
	Header    uint64
	NameInfo  uint64 // the _OBJECT_HEADER_NAME_INFO
	Entry     uint64 // the _OBJECT_DIRECTORY_ENTRY
	Bucket    uint64
	Hash      uint64 // _OBJECT_DIRECTORY_ENTRY.HashValue
}

// Path is the object's full path in the namespace.
func (d DirectoryEntry) Path() string {
	if d.Directory == `\` {
		return `\` + d.Name
	}
	return d.Directory + `\` + d.Name
}

// Mutant is a mutant event: a mutant created with NtCreateMutant.
type Mutant struct {
	Name        string // its path, "" when unnamed
	Object      uint64 // the _KMUTANT
	Header      uint64
	PID         uint64 // the creating process
	Handle      uint64 // in that process's handle table
	OwnerThread uint64 // the owning ETHREAD, 0 when not owned
	OwnerTID    uint64
	SignalState int64 // 0 when owned once, 1 when free
}

// InfoMaskToOffset returns the info-mask-to-offset event.
func (r Report) InfoMaskToOffset() (InfoMaskToOffset, error) {
	var m InfoMaskToOffset
	e, err := r.only("info-mask-to-offset")
	if err != nil {
		return m, err
	}
	if err := uints(e, map[string]*uint64{"address": &m.Address, "creator": &m.Creator, "name": &m.Name,
		"creator-name": &m.CreatorName, "all": &m.All}); err != nil {
		return m, err
	}
	if m.CreatorName != m.Creator+m.Name || m.All < m.CreatorName || m.All > 0xff {
		return m, fmt.Errorf("minint: info-mask-to-offset entries do not add up: %q", e.Line)
	}
	return m, nil
}

// tag reads a pool tag: exactly four characters.
func tag(e Event, key string) (string, error) {
	t := e.Get(key)
	if len(t) != 4 {
		return "", fmt.Errorf("minint: %s %s=%q is not a 4-character pool tag: %q", e.Name, key, t, e.Line)
	}
	return t, nil
}

// PoolObjects returns the pool-object events in report order.
func (r Report) PoolObjects() ([]PoolObject, error) {
	var out []PoolObject
	for _, e := range r.All("pool-object") {
		o := PoolObject{Type: e.Get("type")}
		var err error
		if o.Tag, err = tag(e, "tag"); err != nil {
			return nil, err
		}
		if err := uints(e, map[string]*uint64{"pool": &o.Pool, "block-size": &o.BlockSize, "pool-type": &o.PoolType,
			"header": &o.Header, "object": &o.Object, "info-mask": &o.InfoMask}); err != nil {
			return nil, err
		}
		// The pool header is 16 bytes, blocks are 16-byte units within a
		// page, and the object header lies after the pool header, inside
		// the block.
		if o.Type == "" || o.Pool%16 != 0 || o.BlockSize%16 != 0 || o.BlockSize == 0 || o.BlockSize > poolBuddyMax ||
			o.Pool&0xfff+o.BlockSize > 0x1000 || o.Header < o.Pool+16 || o.Object <= o.Header ||
			o.Object >= o.Pool+o.BlockSize || o.InfoMask > 0xff {
			return nil, fmt.Errorf("minint: pool-object does not lie in its block: %q", e.Line)
		}
		out = append(out, o)
	}
	return out, nil
}

// BigPageTable returns the pool-big-table event.
func (r Report) BigPageTable() (BigPageTable, error) {
	var t BigPageTable
	e, err := r.only("pool-big-table")
	if err != nil {
		return t, err
	}
	if err := uints(e, map[string]*uint64{"address": &t.Address, "entries": &t.Entries, "entry-size": &t.EntrySize}); err != nil {
		return t, err
	}
	// Windows hashes into the table with a mask: its size is a power of 2.
	if t.Entries == 0 || t.Entries&(t.Entries-1) != 0 || t.EntrySize == 0 {
		return t, fmt.Errorf("minint: pool-big-table size is not a power of 2: %q", e.Line)
	}
	return t, nil
}

// BigPages returns the pool-big events, each checked to be whole pages
// recorded at an entry of the table.
func (r Report) BigPages() ([]BigPage, error) {
	t, err := r.BigPageTable()
	if err != nil {
		return nil, err
	}
	var out []BigPage
	seen := map[uint64]bool{}
	for _, e := range r.All("pool-big") {
		var b BigPage
		if b.Tag, err = tag(e, "tag"); err != nil {
			return nil, err
		}
		if err := uints(e, map[string]*uint64{"va": &b.VA, "bytes": &b.Bytes, "pool-type": &b.PoolType, "entry": &b.Entry}); err != nil {
			return nil, err
		}
		if b.VA%0x1000 != 0 || b.Bytes%0x1000 != 0 || b.Bytes == 0 || b.Entry < t.Address ||
			b.Entry >= t.Address+t.Entries*t.EntrySize || (b.Entry-t.Address)%t.EntrySize != 0 || seen[b.Entry] {
			return nil, fmt.Errorf("minint: pool-big is not whole pages at its own table entry: %q", e.Line)
		}
		seen[b.Entry] = true
		out = append(out, b)
	}
	return out, nil
}

// Directories returns the directory events, the root first.
func (r Report) Directories() ([]Directory, error) {
	var out []Directory
	for _, e := range r.All("directory") {
		d := Directory{Name: e.Get("name")}
		if err := uints(e, map[string]*uint64{"object": &d.Object, "header": &d.Header}); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(d.Name, `\`) || d.Header >= d.Object {
			return nil, fmt.Errorf("minint: directory is not a path with its header below it: %q", e.Line)
		}
		out = append(out, d)
	}
	if len(out) == 0 || out[0].Name != `\` {
		return nil, fmt.Errorf("minint: the report's first directory is not the root")
	}
	return out, nil
}

// DirectoryEntries returns the directory-entry events.
func (r Report) DirectoryEntries() ([]DirectoryEntry, error) {
	var out []DirectoryEntry
	for _, e := range r.All("directory-entry") {
		d := DirectoryEntry{Directory: e.Get("directory"), Name: e.Get("name"), Type: e.Get("type")}
		if err := uints(e, map[string]*uint64{"object": &d.Object, "header": &d.Header, "name-info": &d.NameInfo,
			"entry": &d.Entry, "bucket": &d.Bucket, "hash": &d.Hash}); err != nil {
			return nil, err
		}
		if d.Name == "" || strings.Contains(d.Name, `\`) || !strings.HasPrefix(d.Directory, `\`) || d.Type == "" {
			return nil, fmt.Errorf("minint: directory-entry names no object in a directory: %q", e.Line)
		}
		if d.Bucket != d.Hash%directoryBuckets || d.NameInfo >= d.Header || d.Header >= d.Object {
			return nil, fmt.Errorf("minint: directory-entry bucket is not its hash mod %d, or its headers are out of order: %q",
				directoryBuckets, e.Line)
		}
		out = append(out, d)
	}
	return out, nil
}

// Mutants returns the mutant events.
func (r Report) Mutants() ([]Mutant, error) {
	var out []Mutant
	for _, e := range r.All("mutant") {
		m := Mutant{Name: e.Get("name")}
		if m.Name == "-" {
			m.Name = ""
		}
		if err := uints(e, map[string]*uint64{"object": &m.Object, "header": &m.Header, "pid": &m.PID, "handle": &m.Handle,
			"owner-thread": &m.OwnerThread, "owner-tid": &m.OwnerTID}); err != nil {
			return nil, err
		}
		var err error
		if m.SignalState, err = signed(e, "signal-state"); err != nil {
			return nil, err
		}
		// Owned means a signal state of at most 0 and an owner; free, 1
		// and none.
		if (m.OwnerThread != 0) != (m.SignalState <= 0) || m.Handle == 0 || m.Handle%4 != 0 {
			return nil, fmt.Errorf("minint: mutant owner and signal state disagree, or no handle: %q", e.Line)
		}
		out = append(out, m)
	}
	return out, nil
}

// signed reads key as a decimal number that may be negative.
func signed(e Event, key string) (int64, error) {
	v := e.Get(key)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("minint: event %s: %s=%q is not a signed number: %q", e.Name, key, v, e.Line)
	}
	return n, nil
}
