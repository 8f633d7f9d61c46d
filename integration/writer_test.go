package integration

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/frostvmi/frost/integration/guest/disk"
	"github.com/frostvmi/frost/integration/guest/minint"
)

// writerMessage is what writer.exe writes on its n-th NtWriteFile.
func writerMessage(n uint64) string {
	return fmt.Sprintf("frost-writer: message %d from writer.exe\r\n", n)
}

// TestWriterLog checks that writer.exe's NtWriteFile calls reach
// \frost\log.txt on the disk image, in order, one message per write event.
func TestWriterLog(t *testing.T) {
	const writes = 5
	m := start(t, minint.Config{Seed: minint.Seed(11), WriterPeriodMS: 50})
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	if _, err := m.WaitSerial(ctx, func(line string) bool {
		e, ok, err := minint.ParseLine(line)
		return ok && err == nil && e.Name == "write" && e.Get("count") == fmt.Sprint(writes)
	}); err != nil {
		t.Fatalf("waiting for write %d: %v\n%s", writes, err, serialTail(m.SerialPath()))
	}
	vol := openDisk(t, m) // pauses first, so the report cannot run ahead
	rep := report(t, m)

	events := rep.All("write")
	for i, e := range events {
		want := uint64(i + 1)
		if n := uintField(t, e, "count"); n != want {
			t.Fatalf("write event %d has count %d, want %d (counts must run from 1 without gaps)", i, n, want)
		}
		if s := uintField(t, e, "status"); s != statusSuccess {
			t.Errorf("write %d status %#08x, want STATUS_SUCCESS", want, s)
		}
		if b := uintField(t, e, "bytes"); b != uint64(len(writerMessage(want))) {
			t.Errorf("write %d wrote %d bytes, want %d, the length of its message", want, b, len(writerMessage(want)))
		}
	}
	if len(events) < writes {
		t.Fatalf("%d write events, want at least %d", len(events), writes)
	}

	log, err := vol.ReadFile(disk.LogName)
	if err != nil {
		t.Fatalf("reading %s from the disk image: %v", disk.LogName, err)
	}
	rest := log
	var messages uint64
	for len(rest) > 0 {
		msg := writerMessage(messages + 1)
		if !bytes.HasPrefix(rest, []byte(msg)) {
			t.Fatalf("%s after %d messages holds %q, want %q", disk.LogName, messages, rest[:min(len(rest), 64)], msg)
		}
		rest = rest[len(msg):]
		messages++
	}
	// The guest was paused between a write reaching the disk and its event
	// reaching the serial port at most once.
	if k := uint64(len(events)); messages != k && messages != k+1 {
		t.Errorf("%s holds %d messages but the report has %d write events", disk.LogName, messages, k)
	}
}
