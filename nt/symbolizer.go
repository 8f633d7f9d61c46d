package nt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/pe"
)

// SymbolSource says where a module's names come from.
type SymbolSource int

const (
	// SourceNone: no names; an address is "module+0xoff".
	SourceNone SymbolSource = iota
	// SourcePDB: the module's PDB (or ISF) from the symbol store, found by
	// the RSDS identity in its headers in memory.
	SourcePDB
	// SourceExports: the module's export table, read from guest memory.
	SourceExports
)

func (s SymbolSource) String() string {
	switch s {
	case SourcePDB:
		return "pdb"
	case SourceExports:
		return "exports"
	}
	return "none"
}

// ImageRef is one loaded image, kernel or user, as names are given.
type ImageRef struct {
	Name string // BaseDllName: ntdll.dll, ntoskrnl.exe
	Path string // FullDllName, when known
	Base uint64
	Size uint64
	// User: a process's image (its loader lists), not a driver.
	User bool
	// Kernel: ntoskrnl itself, which is "nt" whatever its file name.
	Kernel bool
}

// Contains reports whether va lies in the image.
func (m ImageRef) Contains(va uint64) bool { return va >= m.Base && va-m.Base < m.Size }

// ModuleName is the name WinDbg gives the module: the kernel is "nt",
// every other module its file name without the extension ("ntdll",
// "hal", "writer").
func (m ImageRef) ModuleName() string {
	if m.Kernel {
		return "nt"
	}
	n := m.Name
	if i := strings.LastIndexByte(n, '.'); i > 0 {
		n = n[:i]
	}
	return strings.ToLower(n)
}

// matches says whether a user's module name names m: "nt" for the kernel,
// the name with or without its extension, any case.
func (m ImageRef) matches(name string) bool {
	if m.Kernel && isKernelName(name) {
		return true
	}
	return strings.EqualFold(name, m.Name) || strings.EqualFold(name, m.ModuleName())
}

func isKernelName(n string) bool {
	switch strings.ToLower(n) {
	case "nt", "ntoskrnl", "ntkrnlmp", "ntkrnlpa", "ntkrpamp", "ntoskrnl.exe", "ntkrnlmp.exe", "ntkrnlpa.exe", "ntkrpamp.exe":
		return true
	}
	return false
}

// Symbol is an address named.
type Symbol struct {
	Addr uint64
	// Image is the module holding Addr; its zero value: none does.
	Image ImageRef
	// Name is the function, public symbol or export at or below Addr; ""
	// when the module has none (Offset is then from the module's base).
	Name   string
	Offset uint64
	Source SymbolSource
	// PDB is the module's identity from its RSDS record, when it has one;
	// NoPDB says why the PDB was not used when Source is not SourcePDB.
	PDB   symbols.Identity
	NoPDB error
}

// InModule reports whether a module holds the address.
func (s Symbol) InModule() bool { return s.Image.Size != 0 }

// String is the debugger's name: "ntdll!NtWriteFile+0x14", "hal+0x1200",
// or the bare address in no module.
func (s Symbol) String() string {
	if !s.InModule() {
		return fmt.Sprintf("%#x", s.Addr)
	}
	mod := s.Image.ModuleName()
	switch {
	case s.Name == "" && s.Offset == 0:
		return mod
	case s.Name == "":
		return fmt.Sprintf("%s+%#x", mod, s.Offset)
	case s.Offset == 0:
		return mod + "!" + s.Name
	}
	return fmt.Sprintf("%s!%s+%#x", mod, s.Name, s.Offset)
}

// Symbolizer names addresses and resolves names in every loaded module:
// the kernel and its drivers anywhere, a process's DLLs and executable in
// that process. A module's names come from its PDB, found in the symbol
// store by the RSDS identity its headers carry in memory; a module whose
// PDB cannot be had is named from its export table. It is safe for
// concurrent use; what it learns of an image is cached for the kernel's
// life, module lists for a moment (they change as the guest runs).
type Symbolizer struct {
	k      *Kernel
	loader SymbolLoader

	mu      sync.Mutex
	images  map[imageKey]*imageInfo
	drivers cachedList
	procs   map[uint64]cachedList // by EPROCESS
	pdbs    map[symbols.Identity]*pdbEntry
}

// listTTL is how long a module list is trusted: a lookup of an address in
// no listed module reads the list again at once, so only a module
// unloaded within this time could be named wrongly.
const listTTL = 2 * time.Second

// pdbRetry: a PDB the store could not give is asked for again after this,
// so a PDB added to the store later is used without restarting.
const pdbRetry = 30 * time.Second

// maxImages bounds the image cache; guest memory decides how many images
// there are.
const maxImages = 4096

type cachedList struct {
	at     time.Time
	images []ImageRef
	err    error
}

// imageKey: an image is the same wherever and in whichever process it is
// mapped at this base with this size and name (a shared DLL's view).
type imageKey struct {
	base, size uint64
	name       string
}

// imageInfo is what the symbolizer read of one image, each part once.
type imageInfo struct {
	mu sync.Mutex

	hdrDone bool
	hdr     *pe.Headers
	hdrErr  error

	idDone bool
	id     symbols.Identity
	idErr  error

	expDone bool
	exports *pe.Exports
	expErr  error

	fnDone bool
	funcs  []pe.RuntimeFunction
	fnErr  error
}

type pdbEntry struct {
	table *symbols.Table
	err   error
	at    time.Time
}

// NewSymbolizer makes a symbolizer over k; loader finds modules' PDBs (nil:
// export tables only).
func NewSymbolizer(k *Kernel, loader SymbolLoader) *Symbolizer {
	return &Symbolizer{
		k: k, loader: loader,
		images: map[imageKey]*imageInfo{},
		procs:  map[uint64]cachedList{},
		pdbs:   map[symbols.Identity]*pdbEntry{},
	}
}

// Kernel is the kernel the symbolizer reads.
func (s *Symbolizer) Kernel() *Kernel { return s.k }

// Drivers lists the kernel's modules (PsLoadedModuleList), the kernel
// first, from the cache when fresh.
func (s *Symbolizer) Drivers() ([]ImageRef, error) {
	return s.driverList(false)
}

func (s *Symbolizer) driverList(fresh bool) ([]ImageRef, error) {
	s.mu.Lock()
	c := s.drivers
	s.mu.Unlock()
	if !fresh && !c.at.IsZero() && time.Since(c.at) < listTTL {
		return c.images, c.err
	}
	mods, err := s.k.Drivers()
	out := make([]ImageRef, 0, len(mods))
	for _, m := range mods {
		out = append(out, ImageRef{Name: m.Name, Path: m.FullName, Base: m.Base, Size: m.Size, Kernel: m.Base == s.k.base})
	}
	if len(out) == 0 && err != nil {
		// No list at all (too early in a boot): the kernel's own image
		// still names kernel addresses.
		out = append(out, s.kernelImage())
	}
	s.mu.Lock()
	s.drivers = cachedList{at: time.Now(), images: out, err: err}
	s.mu.Unlock()
	return out, err
}

func (s *Symbolizer) kernelImage() ImageRef {
	size := uint64(0)
	if hdr, err := pe.MappedHeaders(processMemory{k: s.k, dtb: s.k.dtb}, s.k.base); err == nil {
		size = uint64(hdr.SizeOfImage)
	}
	return ImageRef{Name: "ntoskrnl.exe", Base: s.k.base, Size: size, Kernel: true}
}

// ProcessImages lists p's images as its loader's load-order list has
// them, from the cache when fresh. A process without a PEB has none.
func (s *Symbolizer) ProcessImages(p Process) ([]ImageRef, error) {
	return s.processList(p, false)
}

func (s *Symbolizer) processList(p Process, fresh bool) ([]ImageRef, error) {
	s.mu.Lock()
	c, ok := s.procs[p.EPROCESS]
	s.mu.Unlock()
	if ok && !fresh && time.Since(c.at) < listTTL {
		return c.images, c.err
	}
	mods, err := s.k.ProcessModules(p)
	if errors.Is(err, ErrNoPEB) {
		err = nil
	}
	out := make([]ImageRef, 0, len(mods))
	for _, m := range mods {
		out = append(out, ImageRef{Name: m.Name, Path: m.FullName, Base: m.Base, Size: m.Size, User: true})
	}
	s.mu.Lock()
	if len(s.procs) > maxImages {
		s.procs = map[uint64]cachedList{}
	}
	s.procs[p.EPROCESS] = cachedList{at: time.Now(), images: out, err: err}
	s.mu.Unlock()
	return out, err
}

// ImageAt finds the image holding va: a driver for a kernel address, one
// of p's images for a user address (p nil: none). ok is false when no
// module holds va.
func (s *Symbolizer) ImageAt(p *Process, va uint64) (ImageRef, bool, error) {
	find := func(fresh bool) (ImageRef, bool, error) {
		var list []ImageRef
		var err error
		if va >= kernelHalf {
			list, err = s.driverList(fresh)
		} else if p != nil {
			list, err = s.processList(*p, fresh)
		}
		for _, m := range list {
			if m.Contains(va) {
				return m, true, nil
			}
		}
		return ImageRef{}, false, err
	}
	m, ok, err := find(false)
	if ok || (va < kernelHalf && p == nil) {
		return m, ok, err
	}
	// A module loaded since the list was read: read it again.
	return find(true)
}

// FindImage finds a module by name: a process's image first (when p is
// given), then the kernel's modules.
func (s *Symbolizer) FindImage(p *Process, name string) (ImageRef, error) {
	var errs []error
	if p != nil && !isKernelName(name) {
		list, err := s.processList(*p, false)
		for _, m := range list {
			if m.matches(name) {
				return m, nil
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s's loader list: %w", p.Name, err))
		}
	}
	list, err := s.driverList(false)
	for _, m := range list {
		if m.matches(name) {
			return m, nil
		}
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("the kernel's module list: %w", err))
	}
	where := "among the kernel's modules"
	if p != nil {
		where = fmt.Sprintf("in process %d (%s) or among the kernel's modules", p.PID, p.Name)
	}
	return ImageRef{}, &ModuleNotFoundError{Name: name, Where: where, Err: errors.Join(errs...)}
}

// ModuleNotFoundError: no loaded module has the name.
type ModuleNotFoundError struct {
	Name, Where string
	Err         error // why a list could not be read whole, if it could not
}

func (e *ModuleNotFoundError) Error() string {
	msg := fmt.Sprintf("nt: no module %q %s", e.Name, e.Where)
	if e.Err != nil {
		msg += " (" + e.Err.Error() + ")"
	}
	return msg
}

func (e *ModuleNotFoundError) Unwrap() error { return e.Err }

// ErrModuleNotFound matches every ModuleNotFoundError.
var ErrModuleNotFound = errors.New("nt: module not found")

func (e *ModuleNotFoundError) Is(target error) bool { return target == ErrModuleNotFound }

// info returns the cache entry of an image.
func (s *Symbolizer) info(m ImageRef) *imageInfo {
	key := imageKey{base: m.Base, size: m.Size, name: strings.ToLower(m.Name)}
	s.mu.Lock()
	defer s.mu.Unlock()
	ii := s.images[key]
	if ii == nil {
		if len(s.images) >= maxImages {
			s.images = map[imageKey]*imageInfo{}
		}
		ii = &imageInfo{}
		s.images[key] = ii
	}
	return ii
}

// mem is the address space an image is read in: a user image in its
// process's, a kernel image in the kernel's.
func (s *Symbolizer) mem(dtb uint64, m ImageRef) processMemory {
	if !m.User {
		dtb = s.k.dtb
	}
	return processMemory{k: s.k, dtb: dtb}
}

func (s *Symbolizer) headers(dtb uint64, m ImageRef) (*pe.Headers, error) {
	ii := s.info(m)
	ii.mu.Lock()
	defer ii.mu.Unlock()
	if !ii.hdrDone {
		ii.hdr, ii.hdrErr = pe.MappedHeaders(s.mem(dtb, m), m.Base)
		ii.hdrDone = true
	}
	return ii.hdr, ii.hdrErr
}

// identity is the image's RSDS identity, read from its headers in memory.
func (s *Symbolizer) identity(dtb uint64, m ImageRef) (symbols.Identity, error) {
	ii := s.info(m)
	ii.mu.Lock()
	defer ii.mu.Unlock()
	if !ii.idDone {
		img, err := pe.Mapped(s.mem(dtb, m), m.Base)
		ii.id, ii.idErr, ii.idDone = img.ID, err, true
	}
	return ii.id, ii.idErr
}

// RuntimeFunctions is the image's exception directory (.pdata), read from
// memory once.
func (s *Symbolizer) RuntimeFunctions(dtb uint64, m ImageRef) ([]pe.RuntimeFunction, error) {
	hdr, err := s.headers(dtb, m)
	if err != nil {
		return nil, err
	}
	ii := s.info(m)
	ii.mu.Lock()
	defer ii.mu.Unlock()
	if !ii.fnDone {
		ii.funcs, ii.fnErr = hdr.RuntimeFunctions(s.mem(dtb, m))
		if pe.IsSkipped(ii.fnErr) {
			// Corrupt entries were left out; the rest of the table still
			// serves every other function.
			ii.fnErr = nil
		}
		ii.fnDone = true
	}
	return ii.funcs, ii.fnErr
}

func (s *Symbolizer) exports(dtb uint64, m ImageRef) (*pe.Exports, error) {
	hdr, err := s.headers(dtb, m)
	if err != nil {
		return nil, err
	}
	ii := s.info(m)
	ii.mu.Lock()
	defer ii.mu.Unlock()
	if !ii.expDone {
		ii.exports, ii.expErr = hdr.Exports(s.mem(dtb, m))
		ii.expDone = true
	}
	return ii.exports, ii.expErr
}

// table is the image's PDB, by its identity: the kernel's own symbols for
// the kernel, the store's for any other.
func (s *Symbolizer) table(ctx context.Context, dtb uint64, m ImageRef) (symbols.Symbols, symbols.Identity, error) {
	if m.Kernel || m.Base == s.k.base {
		return s.k.sym, s.k.sym.Identity(), nil
	}
	id, err := s.identity(dtb, m)
	if err != nil {
		return nil, id, fmt.Errorf("no RSDS identity in %s's headers: %w", m.Name, err)
	}
	if s.loader == nil {
		return nil, id, errors.New("no symbol store")
	}
	s.mu.Lock()
	e := s.pdbs[id]
	s.mu.Unlock()
	if e != nil && (e.err == nil || time.Since(e.at) < pdbRetry) {
		if e.err != nil {
			return nil, id, e.err
		}
		return e.table, id, nil
	}
	t, _, err := s.loader.Load(ctx, id)
	if ctx.Err() != nil {
		// A cancelled call says nothing of the store: not remembered.
		return nil, id, err
	}
	s.mu.Lock()
	if len(s.pdbs) >= maxImages {
		s.pdbs = map[symbols.Identity]*pdbEntry{}
	}
	s.pdbs[id] = &pdbEntry{table: t, err: err, at: time.Now()}
	s.mu.Unlock()
	if err != nil {
		return nil, id, err
	}
	return t, id, nil
}

// Lookup names va as a debugger does, in the address space dtb (p is the
// process whose user images name a user address; nil for kernel ones).
// An address in no module is not an error: its Symbol is not InModule.
func (s *Symbolizer) Lookup(ctx context.Context, dtb uint64, p *Process, va uint64) (Symbol, error) {
	out := Symbol{Addr: va}
	m, ok, err := s.ImageAt(p, va)
	if !ok {
		return out, err
	}
	out.Image = m
	rva := va - m.Base
	out.Offset = rva
	t, id, perr := s.table(ctx, dtb, m)
	out.PDB = id
	if perr == nil {
		if name, off, err := t.Nearest(rva); err == nil {
			out.Name, out.Offset, out.Source = name, off, SourcePDB
			return out, nil
		}
		// A PDB with nothing below the address (headers): exports may
		// still name it; the PDB was had, so no NoPDB.
		out.Source = SourcePDB
	} else {
		out.NoPDB = perr
	}
	// A table whose name pages are not all readable still names what it
	// has.
	if ex, _ := s.exports(dtb, m); ex != nil {
		if e, off, ok := ex.Nearest(uint32(rva)); ok {
			out.Name, out.Offset, out.Source = exportName(e), uint64(off), SourceExports
			return out, nil
		}
	}
	if out.Source != SourcePDB {
		out.Source = SourceNone
	}
	return out, nil
}

// exportName names an export as a debugger does; one without a name is
// "#ordinal".
func exportName(e pe.Export) string {
	if e.Name != "" {
		return e.Name
	}
	return fmt.Sprintf("#%d", e.Ordinal)
}

// Resolve finds module!name: in p's images (p given) or the kernel's
// modules. Names come from the module's PDB, or its exports without one.
func (s *Symbolizer) Resolve(ctx context.Context, dtb uint64, p *Process, module, name string) (Symbol, error) {
	m, err := s.FindImage(p, module)
	if err != nil {
		return Symbol{}, err
	}
	out := Symbol{Image: m, Name: name}
	t, id, perr := s.table(ctx, dtb, m)
	out.PDB = id
	if perr == nil {
		rva, err := t.Address(name)
		if err == nil {
			out.Addr, out.Source = m.Base+rva, SourcePDB
			return out, nil
		}
		perr = err
	}
	out.NoPDB = perr
	ex, eerr := s.exports(dtb, m)
	if ex == nil {
		return out, &SymbolNotFoundError{Module: m.ModuleName(), Name: name, PDB: perr, Exports: eerr}
	}
	e, ok := ex.ByName(name)
	if !ok {
		why := errors.New("not exported")
		if eerr != nil {
			why = fmt.Errorf("not among the exports that could be read (%w)", eerr)
		}
		return out, &SymbolNotFoundError{Module: m.ModuleName(), Name: name, PDB: perr, Exports: why}
	}
	if e.Forwarder != "" {
		return out, &SymbolNotFoundError{Module: m.ModuleName(), Name: name, PDB: perr,
			Exports: fmt.Errorf("exported as a forwarder to %s, which has no code in %s", e.Forwarder, m.Name)}
	}
	out.Addr, out.Source = m.Base+uint64(e.RVA), SourceExports
	return out, nil
}

// SymbolNotFoundError: neither the module's PDB nor its exports have the
// name; each says why.
type SymbolNotFoundError struct {
	Module, Name string
	PDB, Exports error
}

func (e *SymbolNotFoundError) Error() string {
	return fmt.Sprintf("nt: %s!%s not found: PDB: %v; export table: %v", e.Module, e.Name, e.PDB, e.Exports)
}

// ErrSymbolNotFound matches every SymbolNotFoundError.
var ErrSymbolNotFound = errors.New("nt: symbol not found")

func (e *SymbolNotFoundError) Is(target error) bool { return target == ErrSymbolNotFound }

// ModuleSymbols is a module's PDB: its types and names, for GetField and
// GetType on a driver or a process's DLL.
func (s *Symbolizer) ModuleSymbols(ctx context.Context, p *Process, module string) (symbols.Symbols, ImageRef, error) {
	m, err := s.FindImage(p, module)
	if err != nil {
		return nil, m, err
	}
	t, _, err := s.table(ctx, SpaceOf(s.k, p), m)
	if err != nil {
		return nil, m, fmt.Errorf("nt: the PDB of %s: %w", m.Name, err)
	}
	return t, m, nil
}

// SpaceOf is the address space user addresses of p are read in: p's DTB,
// or the kernel's when there is no process.
func SpaceOf(k *Kernel, p *Process) uint64 {
	if p == nil {
		return k.dtb
	}
	return p.DTB
}
