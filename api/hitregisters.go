package api

import (
	"encoding/binary"
	"errors"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
)

// maxSelectedRegisters bounds SubscribeRequest.registers: x86-64's whole
// file has fewer names than this.
const maxSelectedRegisters = 128

// checkRegisterSelection refuses what can be refused before the first
// hit: empty names, duplicates, too many. Whether a name is a register of
// the vCPU is known only from the target description, at the first hit.
func checkRegisterSelection(names []string) error {
	if len(names) > maxSelectedRegisters {
		return invalid("registers", "%d names; at most %d", len(names), maxSelectedRegisters)
	}
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		if n == "" {
			return invalid("registers", "name %d is empty", i)
		}
		if seen[n] {
			return invalid("registers", "%s is named twice", n)
		}
		seen[n] = true
	}
	return nil
}

// selectedRegistersPB converts only the registers a subscriber asked for,
// in its order; no names means the whole file (registersPB). A name that
// is not a register of this vCPU is the subscriber's error, reported as
// such; one the stub did not send is left out, as in registersPB.
func selectedRegistersPB(r *vmi.Registers, names []string) (*pb.Registers, error) {
	if len(names) == 0 || r == nil {
		return registersPB(r), nil
	}
	out := &pb.Registers{Cpu: cpuIndex(r.Thread), Registers: make([]*pb.Register, 0, len(names))}
	for _, name := range names {
		raw, err := r.Bytes(name)
		if errors.Is(err, vmi.ErrUnknownRegister) {
			return nil, invalid("registers", "%s is not a register of this vCPU (names are the target description's: rip, rsp, rcx, cr3, xmm0, ...)", name)
		}
		if err != nil {
			continue // unavailable in this snapshot: leave it out
		}
		reg := &pb.Register{Name: name, Raw: raw}
		if len(raw) <= 8 {
			var b [8]byte
			copy(b[:], raw)
			reg.Value = binary.LittleEndian.Uint64(b[:])
		}
		out.Registers = append(out.Registers, reg)
	}
	return out, nil
}
