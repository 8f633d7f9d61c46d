package api

import (
	"context"
	"strings"

	"github.com/frostvmi/frost/vmi/libvirt"
)

// Hypervisor is what the VM service needs of libvirt. LibvirtHypervisor is
// the real one; tests of the layers above use fakes.
type Hypervisor interface {
	Domains(ctx context.Context) ([]libvirt.DomainInfo, error)
}

// LibvirtHypervisor is a Hypervisor over a libvirtd connection.
type LibvirtHypervisor struct{ Conn *libvirt.Conn }

// Domains implements Hypervisor.
func (h LibvirtHypervisor) Domains(ctx context.Context) ([]libvirt.DomainInfo, error) {
	return h.Conn.Domains(ctx)
}

// findDomain picks a domain by name, or by UUID in any case. It goes
// through the listing rather than a lookup because the listing alone
// carries libvirt's domain id.
func findDomain(ctx context.Context, h Hypervisor, name string) (libvirt.DomainInfo, error) {
	ds, err := h.Domains(ctx)
	if err != nil {
		return libvirt.DomainInfo{}, err
	}
	for _, d := range ds {
		if d.Name == name || strings.EqualFold(d.UUID, name) {
			return d, nil
		}
	}
	return libvirt.DomainInfo{}, libvirt.ErrNoDomain
}
