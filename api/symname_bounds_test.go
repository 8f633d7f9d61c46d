package api

import (
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// nt!NtWriteFile+0xffffffffffffffff wrapped around to the byte before the
// function and armed a breakpoint mid-instruction (issue 19): an offset no
// image can hold is refused when the name is parsed, and one that leaves
// the symbol's module when it is placed.
func TestSymbolOffsetBounds(t *testing.T) {
	for _, in := range []string{
		"nt!NtWriteFile+0xffffffffffffffff",
		"nt!NtWriteFile+0x40000000",
		"NtWriteFile+18446744073709551615",
	} {
		_, err := parseSymbolName(in)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("parseSymbolName(%q) = %v, want InvalidArgument", in, err)
		}
	}
	n, err := parseSymbolName("nt!NtWriteFile+0x3fffffff")
	if err != nil || n.Offset != 0x3fffffff {
		t.Fatalf("largest offset an image may hold: %+v, %v", n, err)
	}

	const base, size = 0xfffff80000000000, 0x200000
	sym := uint64(base + 0x1000)
	for _, c := range []struct {
		off  uint64
		ok   bool
		want uint64
	}{
		{0x10, true, sym + 0x10},
		{size - 0x1000 - 1, true, base + size - 1}, // the module's last byte
		{size - 0x1000, false, 0},                  // one past it
		{0x3fffffff, false, 0},
	} {
		n := symbolName{Module: "nt", Name: "NtWriteFile", Offset: c.off}
		got, err := n.at(sym, base, size)
		if c.ok && (err != nil || got != c.want) {
			t.Errorf("+%#x = %#x, %v; want %#x", c.off, got, err, c.want)
		}
		if !c.ok && status.Code(err) != codes.InvalidArgument {
			t.Errorf("+%#x = %#x, %v; want InvalidArgument", c.off, got, err)
		}
	}
	// Near the top of the address space, with no module size known, the
	// sum would wrap: refused rather than wrapped.
	n = symbolName{Name: "f", Offset: 0x20}
	if got, err := n.at(^uint64(0)-0x10, 0, 0); status.Code(err) != codes.InvalidArgument {
		t.Errorf("wrapping sum = %#x, %v; want InvalidArgument", got, err)
	}
}

// A 1 MiB request field is not echoed whole into the error's message, its
// metadata or the log line (issue 19): each quotes at most 128 bytes of it
// and says how long it was.
func TestEchoedFieldsClipped(t *testing.T) {
	huge := strings.Repeat("é", 1<<19) // 1 MiB of two-byte runes
	_, err := parseSymbolName("!" + huge)
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("empty module: %v", err)
	}
	if len(st.Message()) > 300 || !strings.Contains(st.Message(), "…(1048576 bytes)") {
		t.Errorf("message of %d bytes: %.200q", len(st.Message()), st.Message())
	}
	if !utf8.ValidString(st.Message()) {
		t.Errorf("clipping split a rune: %q", st.Message()[:200])
	}

	err = apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_VM_NOT_FOUND, "no VM "+huge, "vm", huge)
	st = status.Convert(err)
	if len(st.Message()) > maxMessage+32 {
		t.Errorf("message of %d bytes", len(st.Message()))
	}
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok {
			if v := ed.GetMetadata()["vm"]; len(v) > maxEchoed+32 || !strings.HasSuffix(v, "…(1048576 bytes)") {
				t.Errorf("metadata vm of %d bytes: %.200q", len(v), v)
			}
		}
	}
	if s := errString(status.Error(codes.Internal, huge)); len(s) > maxMessage+32 {
		t.Errorf("log line's error of %d bytes", len(s))
	}
	if s := clipField("short"); s != "short" {
		t.Errorf("clipField(short) = %q", s)
	}
}
