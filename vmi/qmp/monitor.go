package qmp

import (
	"context"
	"strings"
)

// Monitor is the typed command set Frost uses, over any Executor: a
// direct Client or a libvirt Passthrough give the same answers.
type Monitor struct {
	x Executor
}

// NewMonitor wraps x.
func NewMonitor(x Executor) *Monitor { return &Monitor{x: x} }

// Execute runs a raw QMP command through the underlying Executor.
func (m *Monitor) Execute(ctx context.Context, command string, args, result any) error {
	return m.x.Execute(ctx, command, args, result)
}

// Run states from query-status that Frost tells apart (qapi RunState).
const (
	StatusRunning   = "running"
	StatusPaused    = "paused"    // stop, or libvirt's suspend
	StatusDebug     = "debug"     // stopped by the gdbstub
	StatusPrelaunch = "prelaunch" // started with -S, never run
	StatusShutdown  = "shutdown"
	StatusPanicked  = "guest-panicked"
)

// Status is query-status's answer.
type Status struct {
	Status     string `json:"status"` // one of the Status* run states, or another RunState
	Running    bool   `json:"running"`
	SingleStep bool   `json:"singlestep"`
}

// QueryStatus reports whether the vCPUs run, and the run state.
func (m *Monitor) QueryStatus(ctx context.Context) (Status, error) {
	var s Status
	err := m.x.Execute(ctx, "query-status", nil, &s)
	return s, err
}

// KVM is query-kvm's answer. Enabled is what decides the breakpoint
// capabilities (TCG or KVM); Present only says the host has KVM.
type KVM struct {
	Enabled bool `json:"enabled"`
	Present bool `json:"present"`
}

// QueryKVM reports whether the guest runs under KVM.
func (m *Monitor) QueryKVM(ctx context.Context) (KVM, error) {
	var k KVM
	err := m.x.Execute(ctx, "query-kvm", nil, &k)
	return k, err
}

// Stop pauses every vCPU (QEMU then sends a STOP event).
func (m *Monitor) Stop(ctx context.Context) error { return m.x.Execute(ctx, "stop", nil, nil) }

// Cont resumes the vCPUs (QEMU then sends a RESUME event).
func (m *Monitor) Cont(ctx context.Context) error { return m.x.Execute(ctx, "cont", nil, nil) }

// QOMProperty is one entry of qom-list: a property or a child object.
type QOMProperty struct {
	Name string `json:"name"`
	Type string `json:"type"` // e.g. "bool", "child<memory-backend-file>"
}

// QOMList lists the properties and children of the QOM object at path.
func (m *Monitor) QOMList(ctx context.Context, path string) ([]QOMProperty, error) {
	var props []QOMProperty
	err := m.x.Execute(ctx, "qom-list", map[string]string{"path": path}, &props)
	return props, err
}

// QOMGet unmarshals property of the QOM object at path into v.
func (m *Monitor) QOMGet(ctx context.Context, path, property string, v any) error {
	return m.x.Execute(ctx, "qom-get", map[string]string{"path": path, "property": property}, v)
}

// HMP runs a human monitor command and returns its text, with QEMU's
// CRLF line ends turned into LF. HMP reports most failures only in that
// text; an unknown command is returned as an *HMPError.
func (m *Monitor) HMP(ctx context.Context, commandLine string) (string, error) {
	var out string
	if err := m.x.Execute(ctx, "human-monitor-command", map[string]string{"command-line": commandLine}, &out); err != nil {
		return "", err
	}
	out = strings.ReplaceAll(out, "\r\n", "\n")
	if strings.HasPrefix(out, "unknown command:") {
		return "", &HMPError{Command: commandLine, Output: out}
	}
	return out, nil
}

// MemoryTree runs `info mtree -f` and parses every FlatView; SystemView
// picks the guest-physical one.
func (m *Monitor) MemoryTree(ctx context.Context) ([]FlatView, error) {
	out, err := m.HMP(ctx, "info mtree -f")
	if err != nil {
		return nil, err
	}
	return ParseMemoryTree(out)
}

// RAMBlocks runs `info ramblock` and parses it.
func (m *Monitor) RAMBlocks(ctx context.Context) ([]RAMBlock, error) {
	out, err := m.HMP(ctx, "info ramblock")
	if err != nil {
		return nil, err
	}
	return ParseRAMBlocks(out)
}

// Registers runs `info registers -a` and parses every vCPU's state: the
// descriptor tables, debug and control registers the gdbstub lacks.
func (m *Monitor) Registers(ctx context.Context) ([]CPURegisters, error) {
	out, err := m.HMP(ctx, "info registers -a")
	if err != nil {
		return nil, err
	}
	return ParseRegisters(out)
}

// MemoryBackend is a memory-backend-* object under /objects: where guest
// RAM lives when the machine has one.
type MemoryBackend struct {
	ID      string // the object id; also its RAM block's and memory region's name
	Type    string // "memory-backend-file", "memory-backend-memfd", "memory-backend-ram"
	Size    uint64
	Share   bool   // mapped MAP_SHARED, so a second mapping sees guest writes
	MemPath string // memory-backend-file only: a file, or a directory QEMU made an unlinked file in
}

// MemoryBackends lists the memory backend objects and their properties.
func (m *Monitor) MemoryBackends(ctx context.Context) ([]MemoryBackend, error) {
	objs, err := m.QOMList(ctx, "/objects")
	if err != nil {
		return nil, err
	}
	var out []MemoryBackend
	for _, o := range objs {
		typ, ok := childType(o.Type)
		if !ok || !strings.HasPrefix(typ, "memory-backend-") {
			continue
		}
		b := MemoryBackend{ID: o.Name, Type: typ}
		path := "/objects/" + o.Name
		if err := m.QOMGet(ctx, path, "size", &b.Size); err != nil {
			return nil, err
		}
		if err := m.QOMGet(ctx, path, "share", &b.Share); err != nil {
			return nil, err
		}
		if typ == "memory-backend-file" {
			if err := m.QOMGet(ctx, path, "mem-path", &b.MemPath); err != nil {
				return nil, err
			}
		}
		out = append(out, b)
	}
	return out, nil
}

// childType turns "child<memory-backend-file>" into "memory-backend-file".
func childType(t string) (string, bool) {
	rest, ok := strings.CutPrefix(t, "child<")
	if !ok || !strings.HasSuffix(rest, ">") {
		return "", false
	}
	return strings.TrimSuffix(rest, ">"), true
}

// StartGDBServer starts QEMU's gdbstub on device, e.g.
// "unix:/dir/gdb.sock,server=on,wait=off" or "tcp:127.0.0.1:1234". QEMU
// runs one gdbstub and refuses a second, so any running one is stopped
// first; that drops its client.
func (m *Monitor) StartGDBServer(ctx context.Context, device string) error {
	if err := m.StopGDBServer(ctx); err != nil {
		return err
	}
	cmd := "gdbserver " + device
	out, err := m.HMP(ctx, cmd)
	if err != nil {
		return err
	}
	if !strings.Contains(out, "Waiting for gdb connection") {
		return &HMPError{Command: cmd, Output: out}
	}
	return nil
}

// StopGDBServer stops QEMU's gdbstub, if one runs.
func (m *Monitor) StopGDBServer(ctx context.Context) error {
	out, err := m.HMP(ctx, "gdbserver none")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "Disabled gdbserver") {
		return &HMPError{Command: "gdbserver none", Output: out}
	}
	return nil
}

// trimOutput shortens HMP text for an error message.
func trimOutput(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	s = strings.ReplaceAll(s, "\n", "; ")
	const max = 300
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

var (
	_ Executor = (*Client)(nil)
	_ Executor = (*Monitor)(nil)
)
