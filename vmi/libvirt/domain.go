package libvirt

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"
)

// State is a domain's state (virDomainState).
type State int32

const (
	StateNoState     State = State(golibvirt.DomainNostate)
	StateRunning     State = State(golibvirt.DomainRunning)
	StateBlocked     State = State(golibvirt.DomainBlocked)
	StatePaused      State = State(golibvirt.DomainPaused) // suspended, or started paused
	StateShutdown    State = State(golibvirt.DomainShutdown)
	StateShutoff     State = State(golibvirt.DomainShutoff)
	StateCrashed     State = State(golibvirt.DomainCrashed)
	StatePMSuspended State = State(golibvirt.DomainPmsuspended)
)

func (s State) String() string {
	switch s {
	case StateNoState:
		return "no state"
	case StateRunning:
		return "running"
	case StateBlocked:
		return "blocked"
	case StatePaused:
		return "paused"
	case StateShutdown:
		return "shutting down"
	case StateShutoff:
		return "shut off"
	case StateCrashed:
		return "crashed"
	case StatePMSuspended:
		return "pm-suspended"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// DomainInfo is one line of a domain listing.
type DomainInfo struct {
	Name  string
	UUID  string // canonical 8-4-4-4-12 form
	ID    int32  // -1 while not running
	State State
}

// Domain is a domain libvirt knows. It holds no state of the guest's: each
// call asks libvirtd.
type Domain struct {
	c *Conn
	d golibvirt.Domain
}

// Name is the domain's name.
func (d *Domain) Name() string { return d.d.Name }

// UUID is the domain's UUID in canonical form.
func (d *Domain) UUID() string { return formatUUID(d.d.UUID) }

// Domains lists every domain, running or not, with its state.
func (c *Conn) Domains(ctx context.Context) ([]DomainInfo, error) {
	flags := golibvirt.ConnectListDomainsActive | golibvirt.ConnectListDomainsInactive
	doms, err := call(ctx, c, "listing domains", func(l *golibvirt.Libvirt) ([]golibvirt.Domain, error) {
		doms, _, err := l.ConnectListAllDomains(1, flags)
		return doms, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]DomainInfo, 0, len(doms))
	for _, d := range doms {
		st, err := (&Domain{c: c, d: d}).State(ctx)
		if errors.Is(err, ErrNoDomain) {
			continue // undefined between the listing and now
		}
		if err != nil {
			// A lost connection or an ended ctx: a list missing the
			// domains after it would look complete.
			return nil, err
		}
		out = append(out, DomainInfo{Name: d.Name, UUID: formatUUID(d.UUID), ID: d.ID, State: st})
	}
	return out, nil
}

// Lookup finds a domain by UUID (if s parses as one) or by name.
func (c *Conn) Lookup(ctx context.Context, s string) (*Domain, error) {
	if _, err := parseUUID(s); err == nil {
		return c.LookupByUUID(ctx, s)
	}
	return c.LookupByName(ctx, s)
}

// LookupByName finds a domain by name; an unknown name matches
// ErrNoDomain.
func (c *Conn) LookupByName(ctx context.Context, name string) (*Domain, error) {
	d, err := call(ctx, c, "looking up domain "+name, func(l *golibvirt.Libvirt) (golibvirt.Domain, error) { return l.DomainLookupByName(name) })
	if err != nil {
		return nil, err
	}
	return &Domain{c: c, d: d}, nil
}

// LookupByUUID finds a domain by UUID (canonical or 32 hex digits).
func (c *Conn) LookupByUUID(ctx context.Context, uuid string) (*Domain, error) {
	u, err := parseUUID(uuid)
	if err != nil {
		return nil, err
	}
	d, err := call(ctx, c, "looking up domain "+uuid, func(l *golibvirt.Libvirt) (golibvirt.Domain, error) { return l.DomainLookupByUUID(u) })
	if err != nil {
		return nil, err
	}
	return &Domain{c: c, d: d}, nil
}

// Define defines (persistently) the domain described by xml.
func (c *Conn) Define(ctx context.Context, xml string) (*Domain, error) {
	d, err := call(ctx, c, "defining a domain", func(l *golibvirt.Libvirt) (golibvirt.Domain, error) { return l.DomainDefineXML(xml) })
	if err != nil {
		return nil, err
	}
	return &Domain{c: c, d: d}, nil
}

// State reports the domain's state.
func (d *Domain) State(ctx context.Context) (State, error) {
	s, err := call(ctx, d.c, "state of domain "+d.d.Name, func(l *golibvirt.Libvirt) (int32, error) {
		s, _, err := l.DomainGetState(d.d, 0)
		return s, err
	})
	return State(s), err
}

// Start boots a defined domain; paused leaves its vCPUs stopped
// (VIR_DOMAIN_START_PAUSED), so Frost can attach before the guest runs
// a single instruction.
func (d *Domain) Start(ctx context.Context, paused bool) error {
	var flags uint32
	if paused {
		flags = uint32(golibvirt.DomainStartPaused)
	}
	dom, err := call(ctx, d.c, "starting domain "+d.d.Name, func(l *golibvirt.Libvirt) (golibvirt.Domain, error) { return l.DomainCreateWithFlags(d.d, flags) })
	if err == nil {
		d.d = dom // now carries the running domain's id
	}
	return err
}

// Suspend pauses the domain's vCPUs.
func (d *Domain) Suspend(ctx context.Context) error {
	return call0(ctx, d.c, "suspending domain "+d.d.Name, func(l *golibvirt.Libvirt) error { return l.DomainSuspend(d.d) })
}

// Resume runs the domain's vCPUs again.
func (d *Domain) Resume(ctx context.Context) error {
	return call0(ctx, d.c, "resuming domain "+d.d.Name, func(l *golibvirt.Libvirt) error { return l.DomainResume(d.d) })
}

// Reset resets the machine at once, like the reset button (QMP
// system_reset); libvirt reports it as a REBOOT event.
func (d *Domain) Reset(ctx context.Context) error {
	return call0(ctx, d.c, "resetting domain "+d.d.Name, func(l *golibvirt.Libvirt) error { return l.DomainReset(d.d, 0) })
}

// Destroy kills the domain's QEMU.
func (d *Domain) Destroy(ctx context.Context) error {
	return call0(ctx, d.c, "destroying domain "+d.d.Name, func(l *golibvirt.Libvirt) error { return l.DomainDestroy(d.d) })
}

// Undefine removes a defined domain's configuration.
func (d *Domain) Undefine(ctx context.Context) error {
	return call0(ctx, d.c, "undefining domain "+d.d.Name, func(l *golibvirt.Libvirt) error { return l.DomainUndefine(d.d) })
}

// UUIDError is a string that is not a UUID.
type UUIDError struct{ S string }

func (e *UUIDError) Error() string { return fmt.Sprintf("libvirt: %q is not a UUID", e.S) }

func parseUUID(s string) (golibvirt.UUID, error) {
	var u golibvirt.UUID
	h := s
	if len(s) == 36 {
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return u, &UUIDError{S: s}
		}
		h = strings.ReplaceAll(s, "-", "")
	}
	if len(h) != 2*len(u) {
		return u, &UUIDError{S: s}
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, &UUIDError{S: s}
	}
	return u, nil
}

func formatUUID(u golibvirt.UUID) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
