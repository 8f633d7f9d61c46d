package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/frostvmi/frost/client"
)

// cli is one invocation: the connection (made on first use), where output
// goes, and the flags every command shares.
type cli struct {
	conn   connFlags
	fc     *client.Client
	out    io.Writer
	errOut io.Writer
	// in is where break --stop's prompt reads commands; nil means stdin.
	in io.Reader

	// The global flags: every command reads its VM from vm (--vm or
	// $FROST_VM) and its output form from json.
	json    bool
	vm      string
	version bool
	// protoJSON: --json=proto, protojson's form rather than the script
	// form (jsonout.go).
	protoJSON bool
}

func (c *cli) client() (*grpc.ClientConn, error) {
	fc, err := c.frost()
	if err != nil {
		return nil, err
	}
	return fc.Conn(), nil
}

// frost is the client package's connection (made on first use): its
// ReadPhysical reads through the local mapping of guest RAM when it can.
func (c *cli) frost() (*client.Client, error) {
	if c.fc == nil {
		fc, err := c.conn.dial()
		if err != nil {
			return nil, err
		}
		c.fc = fc
	}
	return c.fc, nil
}

func (c *cli) close() {
	if c.fc != nil {
		c.fc.Close()
	}
}

// emit prints m as JSON with --json; otherwise human runs the table.
func (c *cli) emit(m proto.Message, human func(w io.Writer)) error {
	if c.json {
		b, err := c.marshal(m, false)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(c.out, string(b))
		return err
	}
	human(c.out)
	return nil
}

// emitLine prints one streamed message as one line of JSON with --json
// (JSON Lines, so a script can read events as they come).
func (c *cli) emitLine(m proto.Message, human func(w io.Writer)) error {
	if c.json {
		b, err := c.marshal(m, true)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(c.out, string(b))
		return err
	}
	human(c.out)
	return nil
}

// parseAddr reads an address the way WinDbg does: hex by default, with
// or without 0x, a backtick allowed inside (fffff800`12345678), and 0n for
// decimal.
func parseAddr(field, s string) (uint64, error) { return parseNum(field, s, 16) }

// parseUint reads a count or an id: decimal by default, 0x for hex.
func parseUint(field, s string) (uint64, error) { return parseNum(field, s, 10) }

func parseNum(field, s string, base int) (uint64, error) {
	t := strings.ReplaceAll(s, "`", "")
	switch {
	case strings.HasPrefix(t, "0x"), strings.HasPrefix(t, "0X"):
		t, base = t[2:], 16
	case strings.HasPrefix(t, "0n"):
		t, base = t[2:], 10
	}
	v, err := strconv.ParseUint(t, base, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", field, s)
	}
	return v, nil
}

func parseSize(field, s string) (uint64, error) {
	num, mult := s, uint64(1)
	switch {
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		mult, num = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, num = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, num = 1<<30, s[:len(s)-1]
	}
	v, err := parseUint(field, num)
	if err != nil {
		return 0, err
	}
	if v > math.MaxUint64/mult {
		return 0, fmt.Errorf("%s: %q does not fit in 64 bits", field, s)
	}
	return v * mult, nil
}

// addr formats a 64-bit address the WinDbg way for kernel addresses.
// endAddr formats the end of a range, where 0 stands for 2^64 (a range
// that runs to the top of the address space).
func endAddr(v uint64) string {
	if v == 0 {
		return "1`00000000`00000000"
	}
	return addr(v)
}

func addr(v uint64) string {
	if v > 0xffffffff {
		return fmt.Sprintf("%08x`%08x", v>>32, v&0xffffffff)
	}
	return fmt.Sprintf("%08x", v)
}

// call makes one unary call on the command's connection, under the
// deadline every unary call gets: most commands are exactly this.
func call[Resp any](ctx context.Context, c *cli, do func(context.Context, *grpc.ClientConn) (Resp, error)) (Resp, error) {
	cc, err := c.client()
	if err != nil {
		var none Resp
		return none, err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	return do(ctx, cc)
}
