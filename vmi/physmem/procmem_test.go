package physmem

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

// guardedMapping maps size bytes of anonymous memory between two
// inaccessible guard pages, as QEMU maps a RAM block, so that the kernel
// keeps it a mapping of its own in /proc/self/maps.
func guardedMapping(t *testing.T, size int) []byte {
	t.Helper()
	all, err := syscall.Mmap(-1, 0, size+2*pageSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(all) })
	for _, g := range [][]byte{all[:pageSize], all[pageSize+size:]} {
		if err := syscall.Mprotect(g, syscall.PROT_NONE); err != nil {
			t.Fatal(err)
		}
	}
	return all[pageSize : pageSize+size]
}

// The test process plays QEMU: its own /proc/self/mem holds a "RAM
// block", found among all its mappings by comparing pages with the
// reference.
func TestProcessFindsVerifiedMapping(t *testing.T) {
	gm := fakeMap(t)
	image := pattern(fakeBlockSize, 0xabcdef)
	ram := guardedMapping(t, fakeBlockSize)
	copy(ram, image)
	ref := &imageRef{gm: gm, image: image}

	mem, err := OpenProcess(context.Background(), os.Getpid(), gm, ref)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if mem.Kind() != KindProcMem {
		t.Errorf("kind %v", mem.Kind())
	}
	// Reads now come from the mapping, and follow it as it changes.
	ram[0x100000] = 0x42
	p := make([]byte, 1)
	if err := mem.ReadPhysical(context.Background(), 0x100000, p); err != nil || p[0] != 0x42 {
		t.Errorf("read %#x, %v; want the live byte 0x42", p[0], err)
	}
	if err := mem.ReadPhysical(context.Background(), fakeHighGPA+5, p); err != nil || p[0] != image[fakeHighOff+5] {
		t.Errorf("high read %#x, %v", p[0], err)
	}
	var ne *NotRAMError
	if err := mem.ReadPhysical(context.Background(), 0xa0000, p); !errors.As(err, &ne) {
		t.Errorf("read in the VGA hole: %v", err)
	}
}

func TestProcessNoMatch(t *testing.T) {
	gm := fakeMap(t)
	ram := guardedMapping(t, fakeBlockSize)
	copy(ram, pattern(fakeBlockSize, 1))
	// Another guest's RAM, made up read by read: a whole copy held in this
	// process's heap is itself a mapping that matches it, which OpenProcess
	// (scanning this very process) could rightly pick.
	ref := patternRef{gm: gm, salt: 2}

	_, err := OpenProcess(context.Background(), os.Getpid(), gm, ref)
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want *VerifyError", err)
	}
	if len(ve.Rejected) == 0 || !strings.Contains(err.Error(), "differs from the reference") {
		t.Errorf("error does not say why the mapping was rejected: %v", err)
	}
}

// Untouched RAM is all zero, which any zero memory matches: refuse it.
func TestProcessAllZero(t *testing.T) {
	gm := fakeMap(t)
	guardedMapping(t, fakeBlockSize)
	ref := &imageRef{gm: gm, image: make([]byte, fakeBlockSize)}
	_, err := OpenProcess(context.Background(), os.Getpid(), gm, ref)
	if err == nil {
		t.Fatal("a zero mapping was accepted")
	}
}

func TestProcessArguments(t *testing.T) {
	gm := fakeMap(t)
	if _, err := OpenProcess(context.Background(), os.Getpid(), gm, nil); err == nil {
		t.Error("no reference, yet a mapping was trusted")
	}
	if _, err := OpenProcess(context.Background(), 0, gm, &imageRef{gm: gm}); err == nil {
		t.Error("pid 0 accepted")
	}
	if _, err := OpenProcess(context.Background(), 1<<30, gm, &imageRef{gm: gm}); err == nil {
		t.Error("a missing process opened")
	}
}

// flipRef returns different bytes on every read: a page the guest keeps
// rewriting.
type flipRef struct{ n byte }

func (r *flipRef) ReadPhysical(_ context.Context, _ uint64, p []byte) error {
	r.n++
	for i := range p {
		p[i] = r.n
	}
	return nil
}

// constSource reads one byte value everywhere.
type constSource byte

func (s constSource) read(_ context.Context, p []byte, _, _ uint64) error {
	for i := range p {
		p[i] = byte(s)
	}
	return nil
}
func (constSource) close() error { return nil }

// laterRef changes its page once (the guest wrote it) and then holds
// still at the candidate's value.
type laterRef struct{ calls int }

func (r *laterRef) ReadPhysical(_ context.Context, _ uint64, p []byte) error {
	r.calls++
	v := byte(7)
	if r.calls == 1 {
		v = 9
	}
	for i := range p {
		p[i] = v
	}
	return nil
}

func TestComparePageWhileGuestWrites(t *testing.T) {
	s := sample{gpa: 0x1000, off: 0x1000, n: 16}
	buf := func() []byte { return make([]byte, 16) }
	ok, err := comparePage(context.Background(), s, constSource(7), &laterRef{}, buf(), buf(), buf())
	if !ok || err != nil {
		t.Errorf("a page that settled: %v, %v; want a match", ok, err)
	}
	ok, err = comparePage(context.Background(), s, constSource(200), &flipRef{}, buf(), buf(), buf())
	if ok || err != nil {
		t.Errorf("a page that never settled: %v, %v; want no verdict", ok, err)
	}
	ok, err = comparePage(context.Background(), s, constSource(1), &laterRef{calls: 1}, buf(), buf(), buf())
	if ok || err == nil {
		t.Errorf("a stable page that differs: %v, %v; want an error", ok, err)
	}
}

func TestCandidatesOrder(t *testing.T) {
	maps := []mapping{
		{start: 0x1000, end: 0x1000 + 8<<20, perms: "rw-p"},
		{start: 0x10000000, end: 0x10000000 + 3<<20, perms: "rw-s", path: "/dev/shm/x"},
		{start: 0x20000000, end: 0x20000000 + 3<<20, perms: "---p"},
		{start: 0x30000000, end: 0x30000000 + 1<<20, perms: "rw-p"},
	}
	c := candidates(maps, 3<<20)
	if len(c) != 3 || c[0].base != 0x10000000 || c[1].base != 0x1000 || c[2].base != 0x1000+5<<20 {
		t.Errorf("candidates %v", c)
	}
}

// patternRef reads pattern(…, salt) without holding it: each read makes
// just the bytes asked for.
type patternRef struct {
	gm   *Map
	salt uint64
}

func (r patternRef) ReadPhysical(_ context.Context, gpa uint64, p []byte) error {
	off, n, err := r.gm.Translate(gpa)
	if err != nil {
		return err
	}
	if n < uint64(len(p)) {
		return fmt.Errorf("patternRef: read crosses a range end at %#x", gpa+n)
	}
	start := off &^ 7
	b := pattern(int(off-start)+len(p)+8, 0)
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], (start+uint64(i))^r.salt)
	}
	copy(p, b[off-start:])
	return nil
}
