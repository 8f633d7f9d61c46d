package vmi

import (
	"context"

	"github.com/frostvmi/frost/vmi/libvirt"
)

// Libvirt's side of a guest under vmi's names: frostd's wiring dials
// libvirtd and hands the connection to AttachDomain, and the layers above
// list and start domains through it, without importing vmi/libvirt.

// LibvirtConn is a connection to libvirtd (safe for concurrent use):
// Domains lists every domain with its state, Lookup finds one (by name or
// UUID) to start, resume or attach to, Define defines one.
type LibvirtConn = libvirt.Conn

// Domain is a domain libvirt knows; each call asks libvirtd.
type Domain = libvirt.Domain

// DefaultLibvirtURI is the system QEMU driver, frostd's default.
const DefaultLibvirtURI = libvirt.DefaultURI

// DialLibvirt connects to libvirtd. target is a libvirt URI
// ("qemu:///system"), the path of libvirtd's unix socket, or "" for the
// system daemon's socket.
func DialLibvirt(ctx context.Context, target string) (*LibvirtConn, error) {
	return libvirt.Dial(ctx, target)
}

// ErrHypervisorUnavailable matches (errors.Is) a call made while
// libvirtd is away (restarting): the connection dials again with backoff,
// and the call may be retried.
var ErrHypervisorUnavailable = libvirt.ErrUnavailable

// DomainInfo is one domain of a listing: name, UUID (canonical form), id
// (-1 while not running) and state.
type DomainInfo = libvirt.DomainInfo

// DomainState is a domain's state as libvirt reports it (virDomainState).
type DomainState = libvirt.State

const (
	DomainNoState = libvirt.StateNoState
	DomainRunning = libvirt.StateRunning
	DomainBlocked = libvirt.StateBlocked
	// DomainPaused: suspended (by Frost's gdbstub too: libvirt sees every
	// stop as a suspend), or started paused.
	DomainPaused      = libvirt.StatePaused
	DomainShutdown    = libvirt.StateShutdown
	DomainShutoff     = libvirt.StateShutoff
	DomainCrashed     = libvirt.StateCrashed
	DomainPMSuspended = libvirt.StatePMSuspended
)
