package breakpoints

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

// vmi.Registers can only come from a stub's target description and "g"
// reply. blankRegisters gets one from a minimal RSP peer that serves
// QEMU 7.2's recorded target.xml (the gdbstub package's testdata) and an
// all-zero register file; tests clone it and set what they need.

var (
	blankOnce sync.Once
	blank     *vmi.Registers
	blankErr  error
)

func blankRegisters(t *testing.T) *vmi.Registers {
	t.Helper()
	blankOnce.Do(func() { blank, blankErr = fetchBlank() })
	if blankErr != nil {
		t.Fatalf("building a register file: %v", blankErr)
	}
	return blank
}

func fetchBlank() (*vmi.Registers, error) {
	dir := filepath.Join("..", "vmi", "gdbstub", "testdata", "qemu-7.2")
	files := map[string][]byte{}
	for _, name := range []string{"target.xml", "i386-64bit.xml"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		files[name] = b
	}
	client, server := net.Pipe()
	defer client.Close()
	go serveRSP(server, files)
	caps, _ := gdbstub.CapabilitiesFor(gdbstub.AccelTCG, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := gdbstub.New(ctx, client, gdbstub.Config{Capabilities: caps, ReplyTimeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Registers(ctx, gdbstub.ThreadID{Pid: 1, Tid: 1})
}

// serveRSP answers just the handshake, Hg and g.
func serveRSP(conn net.Conn, files map[string][]byte) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		b, err := r.ReadByte()
		if err != nil {
			return
		}
		if b != '$' {
			continue // acks
		}
		payload, err := r.ReadString('#')
		if err != nil {
			return
		}
		if _, err := r.Discard(2); err != nil {
			return
		}
		reply := answer(strings.TrimSuffix(payload, "#"), files)
		var sum byte
		for i := 0; i < len(reply); i++ {
			sum += reply[i]
		}
		if _, err := fmt.Fprintf(conn, "+$%s#%02x", reply, sum); err != nil {
			return
		}
	}
}

func answer(p string, files map[string][]byte) string {
	switch {
	case strings.HasPrefix(p, "qSupported"):
		return "PacketSize=1000;qXfer:features:read+;vContSupported+;multiprocess+"
	case strings.HasPrefix(p, "qXfer:features:read:"):
		annex, span, _ := strings.Cut(strings.TrimPrefix(p, "qXfer:features:read:"), ":")
		if strings.HasPrefix(span, "0,") {
			return "l" + string(files[annex])
		}
		return "l"
	case p == "vCont?":
		return "vCont;c;C;s;S"
	case p == "qqemu.sstepbits":
		return "ENABLE=1,NOIRQ=2,NOTIMER=4"
	case p == "qqemu.PhyMemMode":
		return "0"
	case strings.HasPrefix(p, "Hg"):
		return "OK"
	case p == "g":
		return strings.Repeat("00", 608)
	}
	return ""
}

// regsWith returns a register file with the given values.
func regsWith(t *testing.T, cpu vmi.CPU, vals map[string]uint64) *vmi.Registers {
	t.Helper()
	r := blankRegisters(t).Clone()
	r.Thread = cpu
	for name, v := range vals {
		if err := r.SetUint(name, v); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestBlankRegisters(t *testing.T) {
	r := regsWith(t, cpu1, map[string]uint64{"rip": 0x1234, "cr3": 0x5000})
	if v, _ := r.Uint("rip"); v != 0x1234 {
		t.Fatalf("rip %#x", v)
	}
	if _, err := r.Uint("eflags"); err != nil {
		t.Fatal(err)
	}
}
