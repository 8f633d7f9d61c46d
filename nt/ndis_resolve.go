package nt

import (
	"context"
	"fmt"
	"strings"
)

// The functions every frame passes through, by Windows' names: a
// protocol's send (in the sender's thread) and a miniport's indication of
// received frames.
const (
	NdisSendFunction    = "NdisSendNetBufferLists"
	NdisReceiveFunction = "NdisMIndicateReceiveNetBufferLists"
)

// ndisModules are where NDIS is looked for, in order: ndis.sys on Windows,
// the kernel itself in mini-NT.
var ndisModules = []string{"ndis", "nt"}

// Ndis is where a guest's NDIS is: its send and receive functions and the
// layout of the structures they take.
type Ndis struct {
	Send, Receive Symbol
	// Module is the module both were found in ("ndis", "nt").
	Module string
	Layout *NetLayout
}

// NdisNotFoundError says what was looked for and why each place failed.
type NdisNotFoundError struct {
	Tried []string // "ndis!NdisSendNetBufferLists: <why>", ...
}

func (e *NdisNotFoundError) Error() string {
	return "nt: NDIS not found: " + strings.Join(e.Tried, "; ")
}

// Is makes an NdisNotFoundError an ErrSymbolNotFound.
func (e *NdisNotFoundError) Is(target error) bool { return target == ErrSymbolNotFound }

// Ndis finds NDIS's send and receive functions (ndis!X, then nt!X: both
// from the same module) and the NBL, NB and MDL layouts (that module's
// PDB, then the kernel's).
func (s *Symbolizer) Ndis(ctx context.Context) (Ndis, error) {
	nf := &NdisNotFoundError{}
	for _, mod := range ndisModules {
		send, err := s.Resolve(ctx, s.k.dtb, nil, mod, NdisSendFunction)
		if err != nil {
			nf.Tried = append(nf.Tried, fmt.Sprintf("%s!%s: %v", mod, NdisSendFunction, err))
			continue
		}
		recv, err := s.Resolve(ctx, s.k.dtb, nil, mod, NdisReceiveFunction)
		if err != nil {
			nf.Tried = append(nf.Tried, fmt.Sprintf("%s!%s: %v", mod, NdisReceiveFunction, err))
			continue
		}
		out := Ndis{Send: send, Receive: recv, Module: mod}
		var modSyms = s.k.sym
		if !send.Image.Kernel {
			t, _, err := s.ModuleSymbols(ctx, nil, mod)
			if err != nil {
				// Without the module's PDB the types may still be the
				// kernel's; NewNetLayout says if not.
				modSyms = nil
			} else {
				modSyms = t
			}
		}
		if out.Layout, err = NewNetLayout(modSyms, s.k.sym); err != nil {
			return out, fmt.Errorf("nt: NDIS structures for %s!%s: %w", mod, NdisSendFunction, err)
		}
		return out, nil
	}
	return Ndis{}, nf
}
