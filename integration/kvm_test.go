package integration

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/qemu"
)

// kvmDeadline is long: on our machines KVM is kvm_pvm, which runs the guest
// through KVM's instruction emulator hundreds of times slower than TCG.
const kvmDeadline = 15 * time.Minute

// TestKVMSmoke boots mini-NT under -accel kvm and waits only for the kernel
// event, which KiSystemStartup prints. It is opt-in (FROST_KVM=1): too slow
// here for every make test, and not every machine has /dev/kvm.
func TestKVMSmoke(t *testing.T) {
	if os.Getenv("FROST_KVM") != "1" {
		t.Skip("set FROST_KVM=1 to boot under KVM")
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Fatalf("FROST_KVM=1 but %v", err)
	}
	out := requireGuest(t)
	ctx, cancel := context.WithTimeout(context.Background(), kvmDeadline)
	defer cancel()
	// No TCG lock: the guest runs on KVM.
	m, err := minint.Start(ctx, minint.Config{GuestDir: out, Accel: qemu.AccelKVM, Seed: minint.Seed(17)})
	if err != nil {
		t.Fatalf("starting mini-NT under KVM: %v", err)
	}
	defer m.Stop()
	kernel, err := m.WaitEvent(ctx, "kernel")
	if err != nil {
		t.Fatalf("waiting for KiSystemStartup's kernel event under KVM: %v\n%s", err, serialTail(m.SerialPath()))
	}
	t.Logf("under KVM: %s", kernel.Line)
}
