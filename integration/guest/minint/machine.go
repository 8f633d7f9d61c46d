package minint

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/frostvmi/frost/integration/guest/disk"
	"github.com/frostvmi/frost/vmi/qemu"
)

// diskName is the C: image's name in the machine's directory.
const diskName = "c.img"

// Machine is mini-NT running (or exited) under a QEMU that vmi/qemu
// launched: the generic machine (sockets, RAM file, Pause, Resume, Kill)
// plus what is mini-NT's (its C: disk, its serial report, the TCG lock).
// Hand Machine.Machine to vmi.OpenQEMU.
type Machine struct {
	*qemu.Machine
	cfg  Config
	lock *TCGLock

	// What the serial waits need, apart from QEMU so that tests can
	// stand them up without it.
	serial string
	exited <-chan struct{}
	died   func(when string) error

	stopOnce sync.Once
	stopErr  error
}

// Start boots mini-NT as cfg says, holding the machine-wide TCG lock for
// the machine's life when it runs under TCG. It returns once QEMU has
// opened its QMP and gdbstub sockets, so both are ready to dial. On error
// everything already made is removed again.
func Start(ctx context.Context, cfg Config) (_ *Machine, err error) {
	if cfg, err = cfg.prepare(); err != nil {
		return nil, err
	}
	if cfg.Network {
		// vmi/qemu's command line has -nic none and no way to add one.
		return nil, configErr("Network", "Machine (direct QEMU) has no NIC: boot a Domain under libvirt")
	}
	mc, err := cfg.machine()
	if err != nil {
		return nil, err
	}
	mc.Setup = func(dir string) error { return makeDisk(dir, cfg.GuestDir) }
	var lock *TCGLock
	if cfg.Accel == qemu.AccelTCG {
		if lock, err = LockTCG(ctx); err != nil {
			return nil, err
		}
	}
	qm, err := qemu.Start(ctx, mc)
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	return &Machine{Machine: qm, cfg: cfg, lock: lock,
		serial: qm.SerialPath(), exited: qm.Exited(), died: qm.ExitErr}, nil
}

// makeDisk writes mini-NT's standard C: image into the machine's directory.
func makeDisk(dir, guestDir string) error {
	if err := disk.NewStandard(filepath.Join(dir, diskName), guestDir); err != nil {
		return fmt.Errorf("minint: C: image: %w", err)
	}
	return nil
}

// Config is the configuration the machine runs, defaults filled in.
func (m *Machine) Config() Config { return m.cfg }

// DiskPath is the C: image. Read it once the guest is stopped (Pause, then
// Kill) for a consistent view.
func (m *Machine) DiskPath() string { return filepath.Join(m.Dir(), diskName) }

// Stop kills QEMU, removes everything Start made (the directory with the
// sockets, serial log and disk, the RAM file) and releases the TCG lock.
// It is safe to call more than once.
func (m *Machine) Stop() error {
	m.stopOnce.Do(func() {
		var errs []error
		if m.Machine != nil {
			errs = append(errs, m.Machine.Stop())
		}
		errs = append(errs, m.lock.Unlock())
		m.stopErr = errors.Join(errs...)
	})
	return m.stopErr
}
