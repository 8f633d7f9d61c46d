package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(command{"symbols", "(resolve 'MODULE!NAME' | lookup ADDR | field PATH | type NAME | convert FILE.pdb [-o OUT]) (--vm NAME | --pdb NAME:GUID:AGE)",
		"symbols: 'nt!Name' to an address and back, field offsets, types, PDB to ISF", cmdSymbols})
	subcommands["symbols"] = symbolVerbs
}

// symbolVerbs are the symbols subcommands.
var symbolVerbs = []string{"resolve", "lookup", "field", "type", "convert"}

// symbolScope is --vm (the VM's loaded modules) or --pdb NAME:GUID:AGE (one
// PDB of frostd's symbol store; addresses are RVAs).
func symbolScope(vm, pdbSpec string) (*pb.SymbolScope, error) {
	if pdbSpec != "" {
		parts := strings.Split(pdbSpec, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("--pdb %q: want NAME:GUID:AGE, e.g. ntkrnlmp.pdb:1B2C...:1", pdbSpec)
		}
		age, err := parseUint("--pdb age", parts[2])
		if err != nil {
			return nil, err
		}
		return &pb.SymbolScope{Scope: &pb.SymbolScope_Pdb{Pdb: &pb.PdbIdentity{PdbName: parts[0], Guid: parts[1], Age: uint32(age)}}}, nil
	}
	if vm == "" {
		return nil, errors.New("name the symbols: --vm NAME (or $FROST_VM), or --pdb NAME:GUID:AGE")
	}
	return &pb.SymbolScope{Scope: &pb.SymbolScope_Vm{Vm: vm}}, nil
}

func cmdSymbols(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("symbols", false)
	c.vmFlag(fs, "the VM whose modules are meant (default $FROST_VM); convert needs none")
	pdbSpec := fs.String("pdb", "", "one PDB of frostd's symbol store, as `NAME:GUID:AGE`")
	module := fs.String("module", "", "module whose types are meant (default nt)")
	pid := fs.Uint("pid", 0, "the process whose DLLs and executable count too (user-mode modules: 'ntdll!NtWriteFile', 'writer!main'); 0: kernel modules only")
	out := fs.String("o", "", "convert: output `file` (default <GUID>-<AGE>.json.xz)")
	pos, err := c.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	if !slices.Contains(symbolVerbs, pos[0]) {
		return fmt.Errorf("unknown symbols subcommand %q: the subcommands are %s", pos[0], strings.Join(symbolVerbs, ", "))
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	sym := pb.NewSymbolServiceClient(cc)
	if pos[0] == "convert" {
		return convertPDB(ctx, c, sym, pos[1], *out)
	}
	scope, err := symbolScope(c.vm, *pdbSpec)
	if err != nil {
		return err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	switch pos[0] {
	case "resolve":
		resp, err := sym.ResolveSymbol(ctx, &pb.ResolveSymbolRequest{Scope: scope, Symbol: pos[1], Pid: uint32(*pid)})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) {
			fmt.Fprintf(w, "%s = %s (%s base %s + rva %#x, from %s)\n", pos[1], addr(resp.GetAddress()), resp.GetModule(), addr(resp.GetModuleBase()), resp.GetRva(), sourceName(resp.GetSource()))
		})
	case "lookup":
		a, err := parseAddr("ADDR", pos[1])
		if err != nil {
			return err
		}
		resp, err := sym.LookupAddress(ctx, &pb.LookupAddressRequest{Scope: scope, Address: a, Pid: uint32(*pid)})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) {
			fmt.Fprintf(w, "%s = %s (from %s)\n", addr(a), resp.GetName(), sourceName(resp.GetSource()))
		})
	case "field":
		resp, err := sym.GetField(ctx, &pb.GetFieldRequest{Scope: scope, Module: *module, Path: pos[1], Pid: uint32(*pid)})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) {
			fmt.Fprintf(w, "%s: +%#x size %d %s %s", pos[1], resp.GetOffset(), resp.GetSize(), resp.GetKind(), resp.GetTypeName())
			if resp.GetBitLength() > 0 {
				fmt.Fprintf(w, " bits %d..%d", resp.GetBitPosition(), resp.GetBitPosition()+resp.GetBitLength()-1)
			}
			fmt.Fprintln(w)
		})
	case "type":
		resp, err := sym.GetType(ctx, &pb.GetTypeRequest{Scope: scope, Module: *module, Name: pos[1], Pid: uint32(*pid)})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) {
			fmt.Fprintf(w, "%s %s, size %#x\n", resp.GetKind(), resp.GetName(), resp.GetSize())
			t := table(w)
			for _, m := range resp.GetMembers() {
				bits := ""
				if m.GetBitLength() > 0 {
					bits = fmt.Sprintf(" pos %d, %d bits", m.GetBitPosition(), m.GetBitLength())
				}
				fmt.Fprintf(t, "   +%#05x\t%s\t: %s%s\n", m.GetOffset(), m.GetName(), m.GetTypeName(), bits)
			}
			t.Flush()
		})
	}
	return errUsage
}

// convertPDB uploads a PDB and writes the ISF frostd streams back.
func convertPDB(ctx context.Context, c *cli, sym pb.SymbolServiceClient, path, out string) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	stream, err := sym.ConvertPdb(ctx)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	first := true
	for {
		n, rerr := in.Read(buf)
		if n > 0 {
			req := &pb.ConvertPdbRequest{Chunk: buf[:n]}
			if first {
				req.PdbName, first = filepath.Base(path), false
			}
			if err := stream.Send(req); err != nil {
				break // the server's reason arrives on Recv
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	head, err := stream.Recv()
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Base(head.GetFileName())
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	size := 0
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		n, err := f.Write(m.GetChunk())
		size += n
		if err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return c.emit(head, func(w io.Writer) {
		id := head.GetPdb()
		fmt.Fprintf(w, "%s: ISF of %s %s-%d, %d bytes\n", out, id.GetPdbName(), id.GetGuid(), id.GetAge(), size)
	})
}
