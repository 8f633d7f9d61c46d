package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	subs := []command{
		{name: "resolve", args: "'MODULE!NAME'", short: "a symbol's address",
			long:     "Turns 'module!name' into an address (in a VM) or an RVA (in a PDB); a bare name is the kernel's.",
			example:  "frostctl symbols --vm win10 resolve 'nt!NtWriteFile'\nfrostctl symbols --vm win10 --pid 420 resolve 'ntdll!NtWriteFile'",
			complete: completeSymbolArg},
		{name: "lookup", args: "ADDR", short: "the symbol an address is in, as 'module!symbol+0xoff'",
			long:    "Names an address as a debugger does: module!symbol+0xoff.",
			example: "frostctl symbols --vm win10 lookup 'fffff800`12345678'"},
		{name: "field", args: "PATH", short: "a field's offset, size and type (_EPROCESS.Pcb.DirectoryTableBase)",
			long:    "Places a dotted field path in its structure: offset, size, kind and type, and bit range for a bit field.",
			example: "frostctl symbols --vm win10 field _EPROCESS.UniqueProcessId"},
		{name: "type", args: "NAME", short: "a struct, union, class, enum or base type, with its members",
			long:    "Describes a type: kind, size, and every member with its offset.",
			example: "frostctl symbols --vm win10 type _LIST_ENTRY\nfrostctl symbols --vm win10 --pid 88 --module frostrt type _FROST_USER_STACK"},
		{name: "convert", args: "FILE.pdb [-o OUT]", short: "a PDB to Volatility 3's ISF (JSON, xz)",
			long:    "Uploads a PDB to frostd and writes the ISF it returns (default file name <GUID>-<AGE>.json.xz); needs no VM.",
			example: "frostctl symbols convert ntkrnlmp.pdb -o ntkrnlmp.json.xz"},
	}
	for i := range subs {
		subs[i].minPos, subs[i].maxPos, subs[i].setup = 1, 1, symbolVerb(subs[i].name)
	}
	register(command{name: "symbols", args: "VERB ARG (--vm NAME | --pdb NAME:GUID:AGE)",
		short: "symbols: 'nt!Name' to an address and back, field offsets, types, PDB to ISF",
		long: `Answers what a Windows build looks like, from the PDBs along frostd's symbol
path: in a VM's loaded modules (--vm, $FROST_VM; --pid adds a process's
DLLs), or in one PDB of the store by identity (--pdb; addresses are RVAs).`,
		example: "frostctl symbols --vm win10 resolve 'nt!NtWriteFile'\n" +
			"frostctl symbols --pdb ntkrnlmp.pdb:606FF669409B00F7FC8C61A9C1670129:1 resolve 'nt!NtWriteFile'",
		subs: subs})
}

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

// symbolVerb is one symbols subcommand. Each takes every flag of the
// group, so that "symbols --pdb X lookup 0" and "symbols lookup 0 --pdb X"
// mean the same.
func symbolVerb(verb string) func(c *cli, fs *pflag.FlagSet) runFunc {
	return func(c *cli, fs *pflag.FlagSet) runFunc {
		if verb == "convert" {
			out := fs.StringP("output", "o", "", "output `file` (default <GUID>-<AGE>.json.xz)")
			return func(ctx context.Context, pos []string) error {
				cc, err := c.client()
				if err != nil {
					return err
				}
				return convertPDB(ctx, c, pb.NewSymbolServiceClient(cc), pos[0], *out)
			}
		}
		pdbSpec := fs.String("pdb", "", "one PDB of frostd's symbol store, as `NAME:GUID:AGE` (instead of --vm)")
		module := fs.String("module", "", "module whose types are meant (default nt)")
		pidFlag := newIDFlag(fs, "pid", "the process whose DLLs and executable count too (user-mode modules: 'ntdll!NtWriteFile', 'writer!main'); default: kernel modules only")
		return func(ctx context.Context, pos []string) error {
			pid, err := pidFlag.u32()
			if err != nil {
				return err
			}
			return c.symbols(ctx, verb, pos[0], *pdbSpec, *module, pid)
		}
	}
}

// symbols runs one lookup verb on arg.
func (c *cli) symbols(ctx context.Context, verb, arg, pdbSpec, module string, pid uint32) error {
	scope, err := symbolScope(c.vm, pdbSpec)
	if err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	sym := pb.NewSymbolServiceClient(cc)
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	pos := []string{verb, arg}
	switch pos[0] {
	case "resolve":
		resp, err := sym.ResolveSymbol(ctx, &pb.ResolveSymbolRequest{Scope: scope, Symbol: pos[1], Pid: pid})
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
		resp, err := sym.LookupAddress(ctx, &pb.LookupAddressRequest{Scope: scope, Address: a, Pid: pid})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) {
			fmt.Fprintf(w, "%s = %s (from %s)\n", addr(a), resp.GetName(), sourceName(resp.GetSource()))
		})
	case "field":
		resp, err := sym.GetField(ctx, &pb.GetFieldRequest{Scope: scope, Module: module, Path: pos[1], Pid: pid})
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
		resp, err := sym.GetType(ctx, &pb.GetTypeRequest{Scope: scope, Module: module, Name: pos[1], Pid: pid})
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
