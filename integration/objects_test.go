package integration

import (
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/nt"
)

// TestObjectsAgainstReport (issue 15.4, 15.7): on each kernel build, at
// ready, what nt reads through the PDB of the object namespace, the pool
// and writer.exe's handles against what the guest reported when it built
// them: every directory's entries (walked through the hash buckets from
// ObpRootDirectoryObject), every reported object's pool block (tag, size
// and pool type, found below its optional headers through
// ObpInfoMaskToOffset), PoolBigPageTable, the pool tag of every VAD
// (VadS short, "Vad " long), and writer.exe's named mutant and log file
// with their names.
func TestObjectsAgainstReport(t *testing.T) {
	eachBuild(t, 81, func(t *testing.T, ka *kernelAt) {
		checkDirectories(t, ka)
		checkPoolObjects(t, ka)
		checkBigPages(t, ka)
		checkVADTags(t, ka)
		checkWriterObjects(t, ka)
	})
}

func checkDirectories(t *testing.T, ka *kernelAt) {
	dirs, err := ka.rep.Directories()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ka.rep.DirectoryEntries()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]minint.DirectoryEntry{}
	for _, e := range entries {
		want[e.Directory] = append(want[e.Directory], e)
	}
	for _, d := range dirs {
		got, err := ka.k.ObjectDirectory(d.Name)
		if err != nil {
			t.Errorf("ObjectDirectory(%s): %v", d.Name, err)
			continue
		}
		byObject := map[uint64]nt.DirectoryEntry{}
		for _, g := range got {
			byObject[g.Object] = g
		}
		if len(got) != len(want[d.Name]) {
			t.Errorf("%s: Frost lists %d entries %+v, the guest inserted %d", d.Name, len(got), got, len(want[d.Name]))
		}
		for _, w := range want[d.Name] {
			g, ok := byObject[w.Object]
			if !ok || g.Name != w.Name || g.Type != w.Type || uint64(g.Bucket) != w.Bucket {
				t.Errorf("%s: Frost read %+v for %s, the guest reported %s %s in bucket %d", d.Name, g, w.Path(), w.Type, w.Name, w.Bucket)
			}
		}
	}
	// The root's Device entry is the \Device directory itself.
	if len(dirs) < 2 {
		t.Fatalf("the guest reported %d directories", len(dirs))
	}
}

func checkPoolObjects(t *testing.T, ka *kernelAt) {
	objs, err := ka.rep.PoolObjects()
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, o := range objs {
		b, err := ka.k.ObjectPoolBlock(o.Header)
		if err != nil {
			t.Errorf("%s at %#x: %v", o.Type, o.Object, err)
			continue
		}
		if b.Address != o.Pool || b.Tag != o.Tag || b.Size != o.BlockSize || b.PoolType != o.PoolType {
			t.Errorf("%s at %#x: Frost read block %+v, the guest reported %+v", o.Type, o.Object, b, o)
		}
		tags[o.Type] = o.Tag
	}
	// Windows' tags for the types pool scanners look for.
	for typ, tag := range map[string]string{"Process": "Proc", "Thread": "Thre", "File": "File", "Mutant": "Muta",
		"Driver": "Driv", "Device": "Devi", "Directory": "Dire", "Type": "ObjT", "SymbolicLink": "Symb"} {
		if tags[typ] != tag {
			t.Errorf("%s objects are tagged %q, Windows tags them %q", typ, tags[typ], tag)
		}
	}
}

func checkBigPages(t *testing.T, ka *kernelAt) {
	want, err := ka.rep.BigPages()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ka.k.BigPoolAllocations()
	if err != nil {
		t.Fatal(err)
	}
	byVA := map[uint64]nt.BigPoolAllocation{}
	for _, g := range got {
		byVA[g.VA] = g
	}
	if len(got) != len(want) {
		t.Errorf("Frost lists %d big pool allocations, the guest reported %d", len(got), len(want))
	}
	for _, w := range want {
		if g := byVA[w.VA]; g.Tag != w.Tag || g.Bytes != w.Bytes || g.Entry != w.Entry {
			t.Errorf("big allocation at %#x: Frost read %+v, the guest reported %+v", w.VA, g, w)
		}
	}
}

// checkVADTags: every VAD of every process sits in a pool block tagged as
// Windows tags it, VadS for private memory (an _MMVAD_SHORT) and "Vad "
// for a mapped view (an _MMVAD), so vadinfo finds a view's file.
func checkVADTags(t *testing.T, ka *kernelAt) {
	procs, err := ka.k.Processes()
	if err != nil {
		t.Fatal(err)
	}
	header, err := ka.k.Symbols().Size("_POOL_HEADER")
	if err != nil {
		t.Fatal(err)
	}
	// A long VAD's Address is its Core, which the reorder build does not
	// put first; the block starts at the _MMVAD.
	core, err := ka.k.Symbols().Field("_MMVAD.Core")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, p := range procs {
		vads, err := ka.k.VADs(p)
		if err != nil {
			t.Fatalf("VADs of %s: %v", p.Name, err)
		}
		for _, v := range vads {
			at, want := v.Address, "VadS"
			if !v.Private {
				at, want = v.Address-core.Offset, "Vad "
			}
			b, err := ka.k.PoolBlockAt(at - header)
			if err != nil || b.Tag != want {
				t.Errorf("%s VAD %v: pool block %+v (%v), want tag %q", p.Name, v, b, err, want)
			}
			counts[b.Tag]++
		}
	}
	if counts["VadS"] == 0 || counts["Vad "] == 0 {
		t.Errorf("VAD tags %v: want both short and long VADs", counts)
	}
}

func checkWriterObjects(t *testing.T, ka *kernelAt) {
	mus, err := ka.rep.Mutants()
	if err != nil || len(mus) != 1 {
		t.Fatalf("the guest reported mutants %+v (%v), want writer.exe's one", mus, err)
	}
	mu := mus[0]
	p, err := ka.k.ProcessByPID(mu.PID)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := ka.k.Handles(p)
	if err != nil {
		t.Fatal(err)
	}
	open, ok := ka.rep.First("writer-open")
	if !ok {
		t.Fatal("no writer-open event")
	}
	logHandle, err := open.Uint("handle")
	if err != nil {
		t.Fatal(err)
	}
	var sawMutant, sawLog bool
	for _, h := range hs {
		switch h.Value {
		case mu.Handle:
			sawMutant = true
			if h.Type != "Mutant" || h.Body != mu.Object || h.Name != mu.Name || h.Name != `\BaseNamedObjects\FrostWriterMutant` {
				t.Errorf("mutant handle %#x: Frost read %s %q at %#x, the guest reported %q at %#x", h.Value, h.Type, h.Name, h.Body, mu.Name, mu.Object)
			}
		case logHandle:
			sawLog = true
			if h.Type != "File" || h.File == nil || h.Name != `\frost\log.txt` ||
				h.File.Path() != `\Device\HarddiskVolume1\frost\log.txt` || h.File.DriverName != `\Driver\atapi` {
				t.Errorf("log handle %#x: Frost read %s %q %+v", h.Value, h.Type, h.Name, h.File)
			}
		}
	}
	if !sawMutant || !sawLog {
		t.Errorf("writer.exe's handles: mutant %#x seen %v, log %#x seen %v", mu.Handle, sawMutant, logHandle, sawLog)
	}
	// The owner Frost can check without a mutant reader of its own: the
	// thread the guest named is writer.exe's.
	threads, err := ka.k.Threads(p)
	if err != nil {
		t.Fatal(err)
	}
	owned := false
	for _, th := range threads {
		owned = owned || th.ETHREAD == mu.OwnerThread && th.TID == mu.OwnerTID
	}
	if !owned {
		t.Errorf("the mutant's owner %#x (tid %d) is not among writer.exe's threads %+v", mu.OwnerThread, mu.OwnerTID, threads)
	}
}
