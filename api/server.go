package api

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/vmi"
)

// Config is what the services are built from. Every field but Registry may
// be nil or zero: the calls that need a missing part say so.
type Config struct {
	// Registry holds the sessions of the attached VMs.
	Registry *session.Registry
	// Hypervisor lists libvirt's domains; Attach takes hold of one (nil
	// when frostd has no libvirt connection).
	Hypervisor session.Hypervisor
	Attach     session.AttachFunc
	// Start boots a defined, shut-off domain, with its vCPUs stopped when
	// paused (libvirt's start-paused), for Boot.
	Start func(ctx context.Context, name string, paused bool) error
	// Resume lets a domain that Boot started paused run when Boot cannot
	// take charge of it (the attach failed), so it is not left frozen.
	Resume func(ctx context.Context, name string) error
	// Symbols is the symbol store (_NT_SYMBOL_PATH).
	Symbols *store.Store
	// AllowWrite enables writes to guest memory and registers.
	AllowWrite bool
	// DataDir holds a directory per VM of its paging files and mapped
	// files (DataDir/<vm>/pagefiles, DataDir/<vm>/files).
	DataDir string
	Log     *slog.Logger
	// Booter, when given (a zero &session.Booter{}), is the one Boot
	// runs on, so the wiring can read its boots (metrics); Register
	// fills its fields from this Config.
	Booter *session.Booter

	sessions *session.Config // what every session shares, from the above
	booter   *session.Booter
}

// newSession makes the session of a target just attached.
func (c *Config) newSession(name, uuid string, t vmi.Target) (*session.Session, error) {
	return session.New(c.sessions, name, uuid, t)
}

// Register adds every Frost service to s.
func Register(s grpc.ServiceRegistrar, cfg Config) {
	c := &cfg
	c.init()
	pb.RegisterVMServiceServer(s, &vmService{c: c})
	pb.RegisterBootServiceServer(s, &bootService{c: c})
	pb.RegisterCPUServiceServer(s, &cpuService{c: c})
	pb.RegisterMemoryServiceServer(s, &memoryService{c: c})
	pb.RegisterProcessServiceServer(s, &processService{c: c})
	pb.RegisterSymbolServiceServer(s, &symbolService{c: c})
	pb.RegisterBreakpointServiceServer(s, &breakpointService{c: c})
	pb.RegisterMonitorServiceServer(s, &monitorService{c: c})
	pb.RegisterDumpServiceServer(s, &dumpService{c: c})
	pb.RegisterVersionServiceServer(s, NewVersionServer())
}

// init fills what the services derive from the fields.
func (c *Config) init() {
	if c.Registry == nil {
		c.Registry = session.NewRegistry(c.Hypervisor, nil)
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	c.Registry.UseHypervisor(c.Hypervisor)
	c.sessions = &session.Config{Symbols: c.Symbols, DataDir: c.DataDir, Log: c.Log}
	if c.Booter == nil {
		c.Booter = &session.Booter{}
	}
	c.Booter.Config, c.Booter.Registry = c.sessions, c.Registry
	c.Booter.Start, c.Booter.Attach, c.Booter.Resume = c.Start, c.Attach, c.Resume
	c.booter = c.Booter
}

// ServiceNames lists the fully qualified names of Frost's services, for
// the health service.
func ServiceNames() []string {
	return []string{
		pb.VMService_ServiceDesc.ServiceName,
		pb.BootService_ServiceDesc.ServiceName,
		pb.CPUService_ServiceDesc.ServiceName,
		pb.MemoryService_ServiceDesc.ServiceName,
		pb.ProcessService_ServiceDesc.ServiceName,
		pb.SymbolService_ServiceDesc.ServiceName,
		pb.BreakpointService_ServiceDesc.ServiceName,
		pb.MonitorService_ServiceDesc.ServiceName,
		pb.DumpService_ServiceDesc.ServiceName,
		pb.VersionService_ServiceDesc.ServiceName,
	}
}
