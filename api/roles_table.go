package api

import (
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// roleRule is what one method needs: a fixed role, or one its request
// decides (byRequest, given the first request of a stream).
type roleRule struct {
	role      Role
	byRequest func(req any) Role
}

var (
	reader   = roleRule{role: RoleReader}
	operator = roleRule{role: RoleOperator}
)

// holdsIf makes a method an operator's when its request holds or pauses
// the guest, a reader's otherwise. An unexpected request type asks for an
// operator: the stricter answer.
func holdsIf[T any](holds func(T) bool) roleRule {
	return roleRule{role: RoleOperator, byRequest: func(req any) Role {
		r, ok := req.(T)
		if !ok || holds(r) {
			return RoleOperator
		}
		return RoleReader
	}}
}

// methodRoles maps every Frost RPC to the role it needs. A test checks it
// against the services' descriptors, so a new RPC cannot be left out (and
// one left out is refused at run time, not allowed).
var methodRoles = map[string]roleRule{
	"/frost.v1.VMService/ListDomains":     reader,
	"/frost.v1.VMService/GetVM":           reader,
	"/frost.v1.VMService/Attach":          operator,
	"/frost.v1.VMService/Detach":          operator,
	"/frost.v1.VMService/LaunchDemoGuest": operator,

	"/frost.v1.BootService/Boot":      operator,
	"/frost.v1.BootService/WatchBoot": reader,

	"/frost.v1.CPUService/Pause":        operator,
	"/frost.v1.CPUService/Resume":       operator,
	"/frost.v1.CPUService/Step":         operator,
	"/frost.v1.CPUService/Hold":         operator,
	"/frost.v1.CPUService/GetRegisters": reader,
	"/frost.v1.CPUService/SetRegisters": operator,
	"/frost.v1.CPUService/GetStack":     reader,

	"/frost.v1.MemoryService/ReadPhysical":   reader,
	"/frost.v1.MemoryService/ReadVirtual":    reader,
	"/frost.v1.MemoryService/StreamPhysical": reader,
	"/frost.v1.MemoryService/StreamVirtual":  reader,
	"/frost.v1.MemoryService/Translate":      reader,
	"/frost.v1.MemoryService/VadMap":         reader,
	"/frost.v1.MemoryService/GetPhysicalMap": reader,
	"/frost.v1.MemoryService/WritePhysical":  operator,
	"/frost.v1.MemoryService/WriteVirtual":   operator,

	"/frost.v1.ProcessService/ListProcesses": reader,
	"/frost.v1.ProcessService/ListThreads":   reader,
	"/frost.v1.ProcessService/ListModules":   reader,
	"/frost.v1.ProcessService/ListVads":      reader,
	"/frost.v1.ProcessService/ListHandles":   reader,

	"/frost.v1.SymbolService/ResolveSymbol":  reader,
	"/frost.v1.SymbolService/LookupAddress":  reader,
	"/frost.v1.SymbolService/GetField":       reader,
	"/frost.v1.SymbolService/GetType":        reader,
	"/frost.v1.SymbolService/ConvertPdb":     reader,
	"/frost.v1.SymbolService/CompleteSymbol": reader,
	"/frost.v1.VersionService/GetVersion":    reader,

	// A breakpoint set on its own outlives the caller and stops the
	// guest for everyone: an operator's. A stream's own breakpoints go
	// with the stream, and only holding makes it an operator's.
	"/frost.v1.BreakpointService/SetBreakpoint":   operator,
	"/frost.v1.BreakpointService/ClearBreakpoint": operator,
	"/frost.v1.BreakpointService/ListBreakpoints": reader,
	"/frost.v1.BreakpointService/Subscribe":       holdsIf(func(r *pb.SubscribeRequest) bool { return r.GetHold() }),
	"/frost.v1.BreakpointService/Ack":             operator,

	// Monitors deliver events without holding the guest.
	"/frost.v1.MonitorService/MonitorNtWriteFile": reader,
	"/frost.v1.MonitorService/MonitorNetwork":     reader,

	// A dump pauses the guest unless it is live.
	"/frost.v1.DumpService/DumpProcess":        holdsIf(func(r *pb.DumpProcessRequest) bool { return !r.GetLive() }),
	"/frost.v1.DumpService/DumpModule":         reader,
	"/frost.v1.DumpService/DumpPhysicalToFile": holdsIf(func(r *pb.DumpPhysicalToFileRequest) bool { return !r.GetLive() }),
}
