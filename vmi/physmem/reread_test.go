package physmem

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/frostvmi/frost/vmi/qmp"
)

// Issue 12 item 6: the map is read at attach, which boot does at reset,
// when QEMU still maps the PAM window 0xc0000-0xfffff to pc.rom and
// pc.bios; the firmware then makes it RAM. The two readings of a real
// mini-NT (testdata/tcg-128-reset and tcg-128) are the map before and
// after.

// Adjacent pieces of the block are one range, whatever their access:
// after the firmware, QEMU prints the PAM window as five read-only and
// writable pieces that touch each other and the RAM above 1 MiB.
func TestMapMergesAdjacentPieces(t *testing.T) {
	gm := capturedMap(t, "tcg-128")
	want := []Range{{GPA: 0, Size: 0xa0000}, {GPA: 0xc0000, Size: 0x8000000 - 0xc0000, Offset: 0xc0000}}
	if got := gm.Ranges(); !reflect.DeepEqual(got, want) {
		t.Errorf("ranges after boot:\n got %+v\nwant %+v", got, want)
	}
	off, n, err := gm.Translate(0xca000)
	if err != nil || off != 0xca000 || n != 0x8000000-0xca000 {
		t.Errorf("Translate(0xca000) = %#x, %#x, %v: a read from the shadow on runs to the end of RAM", off, n, err)
	}
}

func TestMerge(t *testing.T) {
	top := ^uint64(0) - 0xfff // the last page
	for _, tc := range []struct {
		name    string
		in, out []Range
	}{
		{"empty", nil, []Range{}},
		{"adjacent in both", []Range{{0, 0x1000, 0, true}, {0x1000, 0x1000, 0x1000, true}, {0x2000, 0x1000, 0x2000, false}},
			[]Range{{0, 0x3000, 0, false}}},
		{"read-only throughout stays read-only", []Range{{0, 0x1000, 0, true}, {0x1000, 0x1000, 0x1000, true}},
			[]Range{{0, 0x2000, 0, true}}},
		{"a hole between", []Range{{0, 0x1000, 0, false}, {0x2000, 0x1000, 0x2000, false}},
			[]Range{{0, 0x1000, 0, false}, {0x2000, 0x1000, 0x2000, false}}},
		{"adjacent addresses, apart in the block", []Range{{0, 0x1000, 0, false}, {0x1000, 0x1000, 0x5000, false}},
			[]Range{{0, 0x1000, 0, false}, {0x1000, 0x1000, 0x5000, false}}},
		{"up to 2^64, then from 0: no wrap", []Range{{top, 0x1000, 0, false}, {0, 0x1000, 0x1000, false}},
			[]Range{{top, 0x1000, 0, false}, {0, 0x1000, 0x1000, false}}},
	} {
		in := append([]Range(nil), tc.in...)
		if got := Merge(tc.in); !reflect.DeepEqual(got, tc.out) {
			t.Errorf("%s: Merge = %+v, want %+v", tc.name, got, tc.out)
		}
		if !reflect.DeepEqual(in, tc.in) {
			t.Errorf("%s: Merge changed its input", tc.name)
		}
	}
}

// rereadable is a Map first read at reset, whose next readings come from
// views, with a clock the test moves.
type rereadable struct {
	*Map
	views []*qmp.FlatView
	err   error
	reads int
	clock time.Time
}

func newRereadable(t *testing.T, views ...*qmp.FlatView) *rereadable {
	t.Helper()
	r := &rereadable{Map: capturedMap(t, "tcg-128-reset"), views: views, clock: time.Unix(1e9, 0)}
	r.reread = func(context.Context) (*qmp.FlatView, error) {
		r.reads++
		if r.err != nil {
			return nil, r.err
		}
		v := r.views[0]
		if len(r.views) > 1 {
			r.views = r.views[1:]
		}
		return v, nil
	}
	r.now = func() time.Time { return r.clock }
	r.last = r.clock
	return r
}

func capturedView(t *testing.T, dir string) *qmp.FlatView {
	t.Helper()
	views, err := qmp.ParseMemoryTree(readCaptured(t, dir, "mtree.txt"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := qmp.SystemView(views)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMapAtResetLacksThePAMWindow(t *testing.T) {
	gm := capturedMap(t, "tcg-128-reset")
	want := []Range{{GPA: 0, Size: 0xa0000}, {GPA: 0x100000, Size: 0x8000000 - 0x100000, Offset: 0x100000}}
	if got := gm.Ranges(); !reflect.DeepEqual(got, want) {
		t.Errorf("ranges at reset %+v, want %+v", got, want)
	}
	var ne *NotRAMError
	if _, _, err := gm.Translate(0xc0000); !errors.As(err, &ne) || ne.What != `rom region "pc.rom"` {
		t.Errorf("Translate(0xc0000) at reset: %v", err)
	}
}

// Reread makes the fresh map the one every holder of the Map reads
// through.
func TestMapReread(t *testing.T) {
	r := newRereadable(t, capturedView(t, "tcg-128"))
	held := r.Map // as physmem.Memory holds it
	if err := r.Reread(context.Background()); err != nil {
		t.Fatal(err)
	}
	if off, _, err := held.Translate(0xc0000); err != nil || off != 0xc0000 {
		t.Errorf("after Reread, Translate(0xc0000) = %#x, %v", off, err)
	}
	if n := len(held.Ranges()); n != 2 || r.reads != 1 {
		t.Errorf("%d ranges after %d re-reads", n, r.reads)
	}
}

// A failed re-read, or a view that no longer maps the block the data
// plane has mapped, keeps the map as it was.
func TestMapRereadFailureKeepsTheMap(t *testing.T) {
	r := newRereadable(t, capturedView(t, "tcg-128"))
	before := r.Ranges()
	r.err = errors.New("monitor gone")
	if err := r.Reread(context.Background()); err == nil || !errors.Is(err, r.err) {
		t.Errorf("Reread with the monitor gone: %v", err)
	}
	other := &qmp.FlatView{Ranges: []qmp.Range{{Start: 0, Last: 0xfff, Type: "ram", Region: "other"}}}
	r.err, r.views = nil, []*qmp.FlatView{other}
	var me *MapError
	if err := r.Reread(context.Background()); !errors.As(err, &me) {
		t.Errorf("Reread of a view without the block: %v, want a *MapError", err)
	}
	bigger := &qmp.FlatView{Ranges: []qmp.Range{{Start: 0, Last: 0x8000fff, Type: "ram", Region: "mem"}}}
	r.views = []*qmp.FlatView{bigger}
	if err := r.Reread(context.Background()); !errors.As(err, &me) {
		t.Errorf("Reread of a view larger than the block: %v, want a *MapError", err)
	}
	if got := r.Ranges(); !reflect.DeepEqual(got, before) {
		t.Errorf("a failed re-read changed the map: %+v, was %+v", got, before)
	}
}

// A read in a hole re-reads the map once before it fails, at most once
// per missRereadInterval.
func TestMapRereadsOnAMiss(t *testing.T) {
	reset := capturedView(t, "tcg-128-reset")
	r := newRereadable(t, reset)

	// Just attached: the map is fresh, a miss fails without asking.
	if _, _, err := r.Translate(0xc0000); err == nil || r.reads != 0 {
		t.Fatalf("a miss right after the reading: %v, %d re-reads", err, r.reads)
	}
	// Later, still ROM: one re-read, then the miss; the next misses within
	// the interval ask nothing.
	r.clock = r.clock.Add(missRereadInterval)
	for range 3 {
		var ne *NotRAMError
		if _, _, err := r.Translate(0xd0000); !errors.As(err, &ne) {
			t.Fatalf("Translate(0xd0000) while ROM: %v", err)
		}
	}
	if r.reads != 1 {
		t.Fatalf("%d re-reads for three misses in one interval, want 1", r.reads)
	}
	// The firmware has made the window RAM: the next miss after the
	// interval finds it.
	r.views = []*qmp.FlatView{capturedView(t, "tcg-128")}
	r.clock = r.clock.Add(missRereadInterval)
	off, n, err := r.Translate(0xe8000)
	if err != nil || off != 0xe8000 || n != 0x8000000-0xe8000 || r.reads != 2 {
		t.Errorf("Translate(0xe8000) after the firmware: %#x, %#x, %v (%d re-reads)", off, n, err, r.reads)
	}
	// A hit never asks.
	r.clock = r.clock.Add(missRereadInterval)
	if _, _, err := r.Translate(0x1000); err != nil || r.reads != 2 {
		t.Errorf("a hit: %v, %d re-reads", err, r.reads)
	}
	// A failing monitor makes a miss a miss, and waits for the interval.
	r.err = errors.New("monitor gone")
	if _, _, err := r.Translate(0xa0000); err == nil || r.reads != 3 {
		t.Errorf("a miss with the monitor gone: %v, %d re-reads", err, r.reads)
	}
	if _, _, err := r.Translate(0xa0000); err == nil || r.reads != 3 {
		t.Errorf("the next miss: %v, %d re-reads, want no new one", err, r.reads)
	}
}

// A map built by hand has nothing to re-read.
func TestFixedMapDoesNotReread(t *testing.T) {
	gm := fakeMap(t)
	if err := gm.Reread(context.Background()); err != nil {
		t.Errorf("Reread of a fixed map: %v", err)
	}
	if _, _, err := gm.Translate(0x200000); err == nil {
		t.Error("a hole of a fixed map translated")
	}
}
