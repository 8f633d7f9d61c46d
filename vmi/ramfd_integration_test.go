package vmi

import (
	"errors"
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/qemu"
)

// TestShareRAMRefusesPrivateRAM: a guest whose RAM is QEMU's anonymous
// memory (read through /proc/<pid>/mem) has nothing a local client could
// map: ShareRAM says so with ErrRAMNotShareable, which the side socket
// turns into a not_shareable refusal and the client into gRPC reads.
func TestShareRAMRefusesPrivateRAM(t *testing.T) {
	m := bootReady(t, minint.Config{RAM: qemu.RAMPrivate})
	g := openTarget(t, m)
	ram, err := g.ShareRAM(testCtx(t))
	if err == nil {
		ram.File.Close()
		t.Fatalf("ShareRAM handed out %v of a guest with private RAM", ram.Kind)
	}
	if !errors.Is(err, ErrRAMNotShareable) {
		t.Errorf("ShareRAM: %v, want ErrRAMNotShareable", err)
	}
}
