package main

import (
	"errors"

	"github.com/spf13/pflag"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// spaceFlags choose whose addresses a memory command means.
type spaceFlags struct {
	pid    *idFlag
	dtb    *string
	kernel *bool
}

func addSpaceFlags(fs *pflag.FlagSet) *spaceFlags {
	return &spaceFlags{
		pid:    newIDFlag(fs, "pid", "a process's address space, by `pid`"),
		dtb:    fs.String("dtb", "", "an address space by its page-table base (CR3 `value`)"),
		kernel: fs.Bool("kernel", false, "the kernel's address space"),
	}
}

// given reports whether any of the flags was set.
func (s *spaceFlags) given() bool { return s.pid.set || *s.dtb != "" || *s.kernel }

func (s *spaceFlags) space() (*pb.AddressSpace, error) {
	n := 0
	out := &pb.AddressSpace{}
	if s.pid.set {
		n++
		pid, err := s.pid.u32()
		if err != nil {
			return nil, err
		}
		out.Space = &pb.AddressSpace_Pid{Pid: pid}
	}
	if *s.dtb != "" {
		n++
		v, err := parseAddr("--dtb", *s.dtb)
		if err != nil {
			return nil, err
		}
		out.Space = &pb.AddressSpace_Dtb{Dtb: v}
	}
	if *s.kernel {
		n++
		out.Space = &pb.AddressSpace_Kernel{Kernel: true}
	}
	if n != 1 {
		return nil, errors.New("name one address space: --pid N, --dtb CR3 or --kernel")
	}
	return out, nil
}
