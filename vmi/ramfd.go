package vmi

import (
	"context"
	"os"

	"github.com/frostvmi/frost/vmi/physmem"
)

// ErrRAMNotShareable: the guest's RAM is not a file or memfd another
// process could map (QEMU's private memory, read through /proc/<pid>/mem
// or the gdbstub), so it cannot be handed to a local client.
var ErrRAMNotShareable = physmem.ErrNotShareable

// SharedRAM is guest RAM as a local client can read it: a read-only
// descriptor of the RAM block's file, its size, and where guest-physical
// addresses sit in it.
type SharedRAM struct {
	// File is a new read-only open of the RAM file or memfd; the caller
	// owns it and closes it once passed on.
	File *os.File
	// Size is the RAM block's size: the bytes of File that may be mapped.
	Size uint64
	// Ranges is the guest-physical map, read afresh from QEMU, each range
	// with its offset in File.
	Ranges []PhysicalRange
	// Kind names the backing: the shared RAM file or a memfd.
	Kind MemoryKind
}

// RAMSharer is a Target whose RAM can be handed to a local reader.
// Optional, like PhysicalMapper: fakes and targets without a mapped file
// have none.
type RAMSharer interface {
	// ShareRAM re-reads the guest-physical map and opens the RAM file
	// read-only. It fails with ErrRAMNotShareable when RAM is QEMU's
	// private memory.
	ShareRAM(ctx context.Context) (*SharedRAM, error)
}

// ShareRAM implements RAMSharer.
func (g *guest) ShareRAM(ctx context.Context) (*SharedRAM, error) {
	f, size, err := g.mem.OpenReadOnly()
	if err != nil {
		return nil, err
	}
	// The map is read after the file is open, so it describes the file
	// handed out; the PAM window below 1 MiB is RAM only once the firmware
	// made it so, which a map read at attach may not know yet.
	if err := g.RereadPhysicalMap(ctx); err != nil {
		f.Close()
		return nil, err
	}
	return &SharedRAM{File: f, Size: size, Ranges: g.mem.Map().Ranges(), Kind: g.mem.Kind()}, nil
}

var _ RAMSharer = (*guest)(nil)
