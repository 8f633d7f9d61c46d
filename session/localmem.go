package session

import (
	"context"
	"fmt"

	"github.com/frostvmi/frost/vmi"
)

// ShareRAM hands out the VM's RAM for a local client to map: a read-only
// descriptor of the RAM file or memfd, and the guest-physical map with
// file offsets. A target with no shareable RAM (/proc/<pid>/mem, the
// gdbstub, a fake) fails with an error that is vmi.ErrRAMNotShareable, so
// the caller can tell the client to read over gRPC instead.
func (s *Session) ShareRAM(ctx context.Context) (*vmi.SharedRAM, error) {
	rs, ok := s.Target.(vmi.RAMSharer)
	if !ok {
		return nil, fmt.Errorf("session: %s: %w", s.Name, vmi.ErrRAMNotShareable)
	}
	ram, err := rs.ShareRAM(ctx)
	if err != nil {
		return nil, fmt.Errorf("session: %s: %w", s.Name, err)
	}
	return ram, nil
}
