package session

import "testing"

// TestUnreadRunsMerge: pages of one missing file that follow each other in
// the process and in the file are one unread run, named by its first
// page's reason, however each page's own error reads; a gap in the file,
// another file, or a state with no bytes starts a new run.
func TestUnreadRunsMerge(t *testing.T) {
	var d ProcessDump
	const p = dumpPage
	d.unread(0x10000, 0x10000+p, "File", "page 0x10000: file a.dll @ 0x3000 not supplied", "a.dll @ 12288")
	d.unread(0x10000+p, 0x10000+2*p, "File", "page 0x11000: file a.dll @ 0x4000 not supplied", "a.dll @ 16384")
	d.unread(0x10000+2*p, 0x10000+3*p, "File", "page 0x12000: file a.dll @ 0x6000 not supplied", "a.dll @ 24576") // a gap in the file
	d.unread(0x10000+3*p, 0x10000+4*p, "File", "page 0x13000: file b.dll @ 0x7000 not supplied", "b.dll @ 28672")
	d.unread(0x20000, 0x20000+2*p, "Compressed", "in the virtual store", "")
	d.unread(0x20000+2*p, 0x20000+3*p, "Compressed", "in the virtual store", "")
	want := []PageRun{
		{Start: 0x10000, End: 0x12000, State: "File", Source: "page 0x10000: file a.dll @ 0x3000 not supplied"},
		{Start: 0x12000, End: 0x13000, State: "File", Source: "page 0x12000: file a.dll @ 0x6000 not supplied"},
		{Start: 0x13000, End: 0x14000, State: "File", Source: "page 0x13000: file b.dll @ 0x7000 not supplied"},
		{Start: 0x20000, End: 0x23000, State: "Compressed", Source: "in the virtual store"},
	}
	if len(d.Unread) != len(want) {
		t.Fatalf("unread runs %+v, want %+v", d.Unread, want)
	}
	for i := range want {
		if d.Unread[i] != want[i] {
			t.Errorf("run %d: %+v, want %+v", i, d.Unread[i], want[i])
		}
	}
	if d.Pages.Unread != 7 {
		t.Errorf("%d unread pages, want 7", d.Pages.Unread)
	}
}
