package nt

import (
	"context"
	"fmt"

	"github.com/frostvmi/frost/translate"
)

// VAD is one virtual address descriptor of a process.
type VAD struct {
	Address    uint64 // kernel VA of the _MMVAD_SHORT (Core of an _MMVAD)
	Start, End uint64 // [Start, End), byte addresses
	VadType    uint64
	Protection uint64 // the memory manager's protection (MM_*)
	Private    bool   // VadFlags.PrivateMemory
	MemCommit  bool   // VadFlags1.MemCommit
	// Mapped views only (Private false): the kernel VAs of the view's
	// first prototype PTE and of its first _SUBSECTION.
	FirstPrototypePte uint64
	Subsection        uint64
}

func (v VAD) String() string {
	kind := "mapped"
	if v.Private {
		kind = "private"
	}
	return fmt.Sprintf("%#x-%#x %s type %d protection %d commit %v", v.Start, v.End, kind, v.VadType, v.Protection, v.MemCommit)
}

// translateVAD is what translation needs of v.
func (v VAD) translateVAD() translate.VAD {
	return translate.VAD{Start: v.Start, End: v.End, Private: v.Private, MemCommit: v.MemCommit,
		Protection: v.Protection, FirstPrototypePte: v.FirstPrototypePte, Subsection: v.Subsection}
}

// vadNode is a VAD with its tree links, as read from the guest.
type vadNode struct {
	VAD
	left, right uint64 // child _RTL_BALANCED_NODE addresses
}

// readVAD reads the VAD whose VadNode is at node.
func (k *Kernel) readVAD(node uint64) (vadNode, error) {
	nodeOff, err := k.lay.offset("_MMVAD_SHORT.VadNode")
	if err != nil {
		return vadNode{}, err
	}
	short := node - nodeOff
	o, err := k.readObject("_MMVAD_SHORT", k.dtb, short)
	if err != nil {
		return vadNode{}, err
	}
	n := vadNode{VAD: VAD{Address: short}}
	var sv, svh, ev, evh, priv, commit uint64
	for _, f := range []struct {
		path     string
		v        *uint64
		optional bool
	}{
		{"VadNode.Left", &n.left, false},
		{"VadNode.Right", &n.right, false},
		{"StartingVpn", &sv, false},
		{"EndingVpn", &ev, false},
		{"StartingVpnHigh", &svh, true},
		{"EndingVpnHigh", &evh, true},
		{"u.VadFlags.VadType", &n.VadType, true},
		{"u.VadFlags.Protection", &n.Protection, false},
		{"u.VadFlags.PrivateMemory", &priv, false},
		{"u1.VadFlags1.MemCommit", &commit, false},
	} {
		var err error
		if f.optional {
			*f.v, err = o.uintOr(f.path)
		} else {
			*f.v, err = o.uint(f.path)
		}
		if err != nil {
			return n, err
		}
	}
	startVPN, endVPN := svh<<32|sv, evh<<32|ev
	if endVPN < startVPN || endVPN >= 1<<36 {
		return n, &WalkError{What: "VAD", At: short, Err: ErrCorrupt, Msg: fmt.Sprintf("VPNs %#x-%#x", startVPN, endVPN)}
	}
	n.Start, n.End = startVPN<<12, (endVPN+1)<<12
	n.Private, n.MemCommit = priv != 0, commit != 0
	if !n.Private {
		// A mapped view is a full _MMVAD around its _MMVAD_SHORT Core.
		coreOff, err := k.lay.offset("_MMVAD.Core")
		if err != nil {
			return n, err
		}
		long, err := k.readObject("_MMVAD", k.dtb, short-coreOff)
		if err != nil {
			return n, err
		}
		if n.FirstPrototypePte, err = long.uint("FirstPrototypePte"); err != nil {
			return n, err
		}
		if n.Subsection, err = long.uint("Subsection"); err != nil {
			return n, err
		}
	}
	return n, nil
}

// vadRoot returns the root node of a process's VAD tree (0: empty).
func (k *Kernel) vadRoot(p Process) (uint64, error) {
	off, err := k.lay.offset("_EPROCESS.VadRoot.Root")
	if err != nil {
		return 0, err
	}
	return k.pointer("VadRoot", p.EPROCESS+off)
}

// VADs lists a process's VADs in address order.
func (k *Kernel) VADs(p Process) ([]VAD, error) { return k.VADsContext(context.Background(), p) }

// VADsContext is VADs that stops when ctx ends (with the VADs read so
// far and an error that errors.Is the context's).
func (k *Kernel) VADsContext(ctx context.Context, p Process) ([]VAD, error) {
	root, err := k.vadRoot(p)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("VAD tree of pid %d", p.PID)
	var out []VAD
	seen := map[uint64]bool{}
	// In-order, iteratively: the explicit stack is bounded by VADDepth, so
	// a hostile tree cannot exhaust Frost's stack.
	type frame struct {
		n    vadNode
		addr uint64
	}
	var stack []frame
	cur := root
	for cur != 0 || len(stack) > 0 {
		for cur != 0 {
			if err := walkDone(ctx, what); err != nil {
				return out, err
			}
			if seen[cur] {
				return out, &WalkError{What: what, At: cur, Err: ErrCycle, Msg: "a node is reached twice"}
			}
			if len(seen) >= k.limits.VADs {
				return out, &WalkError{What: what, At: cur, Err: ErrTooLong, Msg: fmt.Sprintf("more than %d VADs", k.limits.VADs)}
			}
			if len(stack) >= k.limits.VADDepth {
				return out, &WalkError{What: what, At: cur, Err: ErrTooLong, Msg: fmt.Sprintf("deeper than %d", k.limits.VADDepth)}
			}
			if !canonical(cur) {
				return out, &WalkError{What: what, At: cur, Err: ErrCorrupt, Msg: "child is not a canonical address"}
			}
			seen[cur] = true
			n, err := k.readVAD(cur)
			if err != nil {
				return out, err
			}
			stack = append(stack, frame{n, cur})
			cur = n.left
		}
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if len(out) > 0 && top.n.Start < out[len(out)-1].End {
			return out, &WalkError{What: what, At: top.addr, Err: ErrCorrupt,
				Msg: fmt.Sprintf("VAD %#x-%#x is not above its predecessor %#x-%#x", top.n.Start, top.n.End, out[len(out)-1].Start, out[len(out)-1].End)}
		}
		out = append(out, top.n.VAD)
		cur = top.n.right
	}
	return out, nil
}

// FindVADIn returns the VAD of p that contains va, searching the tree as
// the memory manager does (MiLocateAddress): O(depth) reads.
func (k *Kernel) FindVADIn(p Process, va uint64) (VAD, bool, error) {
	cur, err := k.vadRoot(p)
	if err != nil {
		return VAD{}, false, err
	}
	for depth := 0; cur != 0; depth++ {
		if depth >= k.limits.VADDepth {
			return VAD{}, false, &WalkError{What: fmt.Sprintf("VAD tree of pid %d", p.PID), At: cur, Err: ErrTooLong, Msg: fmt.Sprintf("deeper than %d (a cycle?)", k.limits.VADDepth)}
		}
		n, err := k.readVAD(cur)
		if err != nil {
			return VAD{}, false, err
		}
		switch {
		case va < n.Start:
			cur = n.left
		case va >= n.End:
			cur = n.right
		default:
			return n.VAD, true, nil
		}
	}
	return VAD{}, false, nil
}

// FindVAD implements translate.VADResolver: the process is the one whose
// DirectoryTableBase (or UserDirectoryTableBase) is dtb.
func (k *Kernel) FindVAD(dtb, va uint64) (translate.VAD, bool, error) {
	p, err := k.processForDTB(dtb)
	if err != nil {
		return translate.VAD{}, false, err
	}
	v, ok, err := k.FindVADIn(p, va)
	return v.translateVAD(), ok, err
}

// processForDTB is ProcessByDTB with a cache, re-checked on every use:
// translation asks per page, and the guest may have reused the EPROCESS.
func (k *Kernel) processForDTB(dtb uint64) (Process, error) {
	key := dtbKey(dtb)
	k.mu.Lock()
	ep, ok := k.byDTB[key]
	k.mu.Unlock()
	if ok {
		if p, err := k.ProcessAt(ep); err == nil && (dtbKey(p.DTB) == key || (p.UserDTB != 0 && dtbKey(p.UserDTB) == key)) {
			return p, nil
		}
	}
	p, err := k.ProcessByDTB(dtb)
	if err != nil {
		return p, err
	}
	k.mu.Lock()
	if len(k.byDTB) >= maxDTBCache {
		// Processes come and go; start afresh rather than grow.
		clear(k.byDTB)
	}
	k.byDTB[key] = p.EPROCESS
	k.mu.Unlock()
	return p, nil
}

// maxDTBCache bounds the DTB → EPROCESS cache.
const maxDTBCache = 4096

var _ translate.VADResolver = (*Kernel)(nil)
