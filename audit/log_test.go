package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRecordOneLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf)
	uid, addr := uint32(0), uint64(0x1000)
	held := Duration(1500 * time.Millisecond)
	if err := l.Record(Event{Action: WriteMemory, VM: "win", Who: Who{UID: &uid}, Address: &addr, Length: 4, Result: "OK"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(Event{Action: HoldEnd, VM: "win", Who: Who{Subject: "CN=alice"}, Held: &held}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %q", len(lines), buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	who := first["who"].(map[string]any)
	// uid 0 is root: it must be written, not dropped as a zero value.
	if who["uid"] != float64(0) {
		t.Errorf("uid 0 missing: %s", lines[0])
	}
	if first["address"] != float64(0x1000) || first["length"] != float64(4) || first["action"] != WriteMemory {
		t.Errorf("write fields: %s", lines[0])
	}
	if _, ok := first["held_seconds"]; ok {
		t.Errorf("an unset field is written: %s", lines[0])
	}
	if _, err := time.Parse(time.RFC3339Nano, first["time"].(string)); err != nil {
		t.Errorf("time not stamped: %s", lines[0])
	}
	var second map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if second["held_seconds"] != 1.5 {
		t.Errorf("held_seconds = %v, want 1.5", second["held_seconds"])
	}
}

// Many goroutines recording at once still give whole, parsable lines.
func TestRecordConcurrentLinesDoNotInterleave(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				l.Record(Event{Action: Pause, VM: strings.Repeat("v", 200), Detail: "x"})
			}
		}()
	}
	wg.Wait()
	sc := bufio.NewScanner(&buf)
	n := 0
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		n++
	}
	if n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
}

func TestNilLogRecordsNothing(t *testing.T) {
	var l *Log
	if err := l.Record(Event{Action: Pause}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "audit.log")
	l, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	l.Record(Event{Action: Attach, VM: "a"})
	l.Close()
	// Reopening appends.
	l, err = Open(p)
	if err != nil {
		t.Fatal(err)
	}
	l.Record(Event{Action: Detach, VM: "a"})
	l.Close()
	b, _ := os.ReadFile(p)
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Fatalf("%d lines after reopening, want 2: %s", n, b)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}

	open := filepath.Join(dir, "open.log")
	os.WriteFile(open, nil, 0o600)
	os.Chmod(open, 0o666)
	if _, err := Open(open); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("a world-writable log was accepted: %v", err)
	}
	if _, err := Open(dir); err == nil {
		t.Error("a directory was accepted")
	}
	if _, err := Open(""); err == nil {
		t.Error("an empty path was accepted")
	}
}
