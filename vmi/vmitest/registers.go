package vmitest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

// A register file only comes from a gdbstub that described its registers,
// so the blank one is read once from a stub in this process: it answers the
// handshake with the x86-64 register list QEMU 7.2 sends (names, sizes and
// order as platform-facts.md records them), and zeros for "g".

// x8664Registers lists QEMU 7.2's x86-64 registers in gdbstub order, with
// their bit sizes: what the rest of Frost reads by name.
var x8664Registers = func() []struct {
	name string
	bits int
} {
	var regs []struct {
		name string
		bits int
	}
	add := func(bits int, names ...string) {
		for _, n := range names {
			regs = append(regs, struct {
				name string
				bits int
			}{n, bits})
		}
	}
	add(64, "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip")
	add(32, "eflags", "cs", "ss", "ds", "es", "fs", "gs")
	add(64, "fs_base", "gs_base", "k_gs_base", "cr0", "cr2", "cr3", "cr4", "cr8", "efer")
	for i := 0; i < 8; i++ {
		add(80, fmt.Sprintf("st%d", i))
	}
	add(32, "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop")
	for i := 0; i < 16; i++ {
		add(128, fmt.Sprintf("xmm%d", i))
	}
	add(32, "mxcsr")
	return regs
}()

func targetXML() string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><target><architecture>i386:x86-64</architecture><feature name="org.gnu.gdb.i386.core">`)
	for _, r := range x8664Registers {
		fmt.Fprintf(&b, `<reg name="%s" bitsize="%d"/>`, r.name, r.bits)
	}
	b.WriteString(`</feature></target>`)
	return b.String()
}

func fileSize() int {
	n := 0
	for _, r := range x8664Registers {
		n += r.bits / 8
	}
	return n
}

var blank = sync.OnceValues(func() (*vmi.Registers, error) {
	client, server := net.Pipe()
	defer client.Close()
	go serveHandshake(server, targetXML(), fileSize())
	caps, err := gdbstub.CapabilitiesFor(gdbstub.AccelTCG, false)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := gdbstub.New(ctx, client, gdbstub.Config{Capabilities: caps, ReplyTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("vmitest: building a register file: %w", err)
	}
	defer c.Close()
	r, err := c.Registers(ctx, gdbstub.ThreadID{Pid: 1, Tid: 1})
	if err != nil {
		return nil, fmt.Errorf("vmitest: building a register file: %w", err)
	}
	return r, nil
})

// serveHandshake answers what a client sends to connect and read one
// register file; anything else gets the empty reply ("not supported").
func serveHandshake(conn net.Conn, xml string, size int) {
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
		reply := handshakeReply(strings.TrimSuffix(payload, "#"), xml, size)
		var sum byte
		for i := 0; i < len(reply); i++ {
			sum += reply[i]
		}
		if _, err := fmt.Fprintf(conn, "+$%s#%02x", reply, sum); err != nil {
			return
		}
	}
}

func handshakeReply(p, xml string, size int) string {
	switch {
	case strings.HasPrefix(p, "qSupported"):
		return "PacketSize=1000;qXfer:features:read+;vContSupported+;multiprocess+"
	case strings.HasPrefix(p, "qXfer:features:read:target.xml:"):
		var off, n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(p, "qXfer:features:read:target.xml:"), "%x,%x", &off, &n); err != nil || off >= len(xml) {
			return "l"
		}
		end := min(off+n, len(xml))
		if end == len(xml) {
			return "l" + xml[off:end]
		}
		return "m" + xml[off:end]
	case p == "vCont?":
		return "vCont;c;C;s;S"
	case strings.HasPrefix(p, "Hg"):
		return "OK"
	case p == "g":
		return strings.Repeat("00", size)
	}
	return ""
}

// Registers returns a register file of cpu with every register zero but
// those in vals (by target.xml name). An unknown name is an error.
func Registers(cpu vmi.CPU, vals map[string]uint64) (*vmi.Registers, error) {
	b, err := blank()
	if err != nil {
		return nil, err
	}
	r := b.Clone()
	r.Thread = cpu
	for name, v := range vals {
		if err := r.SetUint(name, v); err != nil {
			return nil, fmt.Errorf("vmitest: %w", err)
		}
	}
	return r, nil
}
