package audit

import "time"

// Event is one audit record. The zero value of an optional field is left
// out of the line, so each line carries only what applies to its action.
type Event struct {
	Time time.Time `json:"time"`
	// Action names what was done: see the Action constants.
	Action string `json:"action"`
	// Method is the gRPC method that asked for it.
	Method string `json:"method,omitempty"`
	VM     string `json:"vm,omitempty"`
	Who    Who    `json:"who"`
	// Result is the gRPC status code name ("OK", "PermissionDenied").
	Result string `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
	// Address and Length describe a memory write; CPU and Registers a
	// register write.
	Address   *uint64  `json:"address,omitempty"`
	Length    int      `json:"length,omitempty"`
	CPU       *uint32  `json:"cpu,omitempty"`
	Registers []string `json:"registers,omitempty"`
	// Subscription and Sequence name a held breakpoint hit.
	Subscription uint64 `json:"subscription,omitempty"`
	Sequence     uint64 `json:"sequence,omitempty"`
	// Held is how long the guest was held (a hold, a held hit, a boot).
	Held *Duration `json:"held_seconds,omitempty"`
	// Detail is a short free-form note ("deadline passed", "live").
	Detail string `json:"detail,omitempty"`
}

// Actions recorded.
const (
	WriteMemory    = "write_memory"
	WriteRegisters = "write_registers"
	HoldStart      = "hold_start"
	HoldEnd        = "hold_end"
	HitHeld        = "hit_held"
	HitReleased    = "hit_released"
	Pause          = "pause"
	Resume         = "resume"
	Step           = "step"
	Attach         = "attach"
	Detach         = "detach"
	BootStart      = "boot_start"
	BootEnd        = "boot_end"
	Dump           = "dump"
)

// Who is the caller as the transport vouches for it: the kernel's
// SO_PEERCRED on the unix socket, the verified client certificate on TCP.
// Fields the transport did not give are left out rather than zero, since
// uid 0 is root.
type Who struct {
	UID     *uint32 `json:"uid,omitempty"`
	GID     *uint32 `json:"gid,omitempty"`
	PID     *int32  `json:"pid,omitempty"`
	Subject string  `json:"cert_subject,omitempty"`
	// Addr is the peer's address when nothing better is known.
	Addr string `json:"addr,omitempty"`
	// Role is what the caller was allowed to do, when roles are enforced.
	Role string `json:"role,omitempty"`
}

// Duration marshals as seconds (a JSON number), which log tools sum and
// compare without parsing Go's duration syntax.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(formatSeconds(time.Duration(d))), nil
}
