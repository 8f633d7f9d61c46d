package nt

import (
	"context"
	"fmt"
)

// Handle is one open handle and the object it refers to.
type Handle struct {
	Value         uint64 // the handle as the process uses it (4, 8, ...)
	Entry         uint64 // kernel VA of its _HANDLE_TABLE_ENTRY
	GrantedAccess uint64
	Object
}

func (h Handle) String() string {
	s := fmt.Sprintf("%#x %s %#x", h.Value, h.Type, h.Body)
	if h.File != nil {
		return s + " " + h.File.Path()
	}
	if h.Name != "" {
		s += " " + h.Name
	}
	return s
}

// kernelHandleBit marks a kernel handle (KERNEL_HANDLE_MASK's top bit as
// a 32-bit handle value sign-extends it): such handles index
// ObpKernelHandleTable whatever process uses them.
const kernelHandleBit = 0x80000000

// handleTable is a _HANDLE_TABLE: its TableCode and how many handle
// values it has pages for.
type handleTable struct {
	va       uint64
	code     uint64
	next     uint64 // NextHandleNeedingPool: handles below it have entries
	entrySz  uint64
	perPage  uint64 // entries per level-0 page
	ptrsPage uint64 // pointers per level-1/2 page
}

func (k *Kernel) readHandleTable(va uint64) (handleTable, error) {
	o, err := k.readObject("_HANDLE_TABLE", k.dtb, va)
	if err != nil {
		return handleTable{}, err
	}
	ht := handleTable{va: va}
	if ht.code, err = o.uint("TableCode"); err != nil {
		return ht, err
	}
	if ht.next, err = o.uint("NextHandleNeedingPool"); err != nil {
		return ht, err
	}
	if ht.entrySz, err = k.lay.size("_HANDLE_TABLE_ENTRY"); err != nil {
		return ht, err
	}
	if ht.entrySz == 0 || ht.entrySz > 0x1000 {
		return ht, &SymbolError{Need: "size of _HANDLE_TABLE_ENTRY", Err: fmt.Errorf("%d bytes", ht.entrySz)}
	}
	// Tables are built of pages: a level-0 page of entries, level-1 and
	// level-2 pages of pointers.
	ht.perPage, ht.ptrsPage = 0x1000/ht.entrySz, 0x1000/8
	return ht, nil
}

// entryAddr locates the entry of handle value h: index = h >> 2; the low
// two bits of TableCode are the number of pointer levels above the pages
// of entries.
func (k *Kernel) entryAddr(ht handleTable, h uint64) (uint64, error) {
	idx := h >> 2
	base := ht.code &^ 3
	switch ht.code & 3 {
	case 0:
		if idx >= ht.perPage {
			return 0, fmt.Errorf("%w: %#x is past a one-page table", ErrNoHandle, h)
		}
		return base + idx*ht.entrySz, nil
	case 1:
		page, err := k.pointer("handle table level 1", base+(idx/ht.perPage)*8)
		if err != nil || page == 0 {
			return 0, orNoHandle(err, h)
		}
		return page + (idx%ht.perPage)*ht.entrySz, nil
	case 2:
		per1 := ht.perPage * ht.ptrsPage
		mid, err := k.pointer("handle table level 2", base+(idx/per1)*8)
		if err != nil || mid == 0 {
			return 0, orNoHandle(err, h)
		}
		page, err := k.pointer("handle table level 1", mid+((idx%per1)/ht.perPage)*8)
		if err != nil || page == 0 {
			return 0, orNoHandle(err, h)
		}
		return page + (idx%ht.perPage)*ht.entrySz, nil
	}
	return 0, &WalkError{What: "handle table", At: ht.va, Err: ErrCorrupt, Msg: fmt.Sprintf("TableCode %#x has level 3", ht.code)}
}

func orNoHandle(err error, h uint64) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: %#x has no table page", ErrNoHandle, h)
}

// decodeEntry reads the entry at va: the object header it points to (0:
// a free entry) and the granted access.
func (k *Kernel) decodeEntry(va uint64) (header, access uint64, err error) {
	o, err := k.readObject("_HANDLE_TABLE_ENTRY", k.dtb, va)
	if err != nil {
		return 0, 0, err
	}
	return k.entryFields(o)
}

// entryFields decodes an entry already read.
func (k *Kernel) entryFields(o *object) (header, access uint64, err error) {
	f, err := k.lay.field("_HANDLE_TABLE_ENTRY.ObjectPointerBits")
	if err != nil {
		return 0, 0, err
	}
	bits, err := o.uint("ObjectPointerBits")
	if err != nil || bits == 0 {
		return 0, 0, err
	}
	// The header is 16-byte aligned and in the kernel half: its
	// canonical 48 bits are ObjectPointerBits shifted up by what the
	// field lacks of 48, with the top 16 bits set.
	if f.BitLength == 0 || f.BitLength > 48 {
		return 0, 0, &SymbolError{Need: "_HANDLE_TABLE_ENTRY.ObjectPointerBits", Err: fmt.Errorf("%d bits", f.BitLength)}
	}
	header = bits<<(48-f.BitLength) | 0xffff_0000_0000_0000
	access, err = o.uintOr("GrantedAccessBits")
	return header, access, err
}

// handleAt resolves one handle of a table; ErrNoHandle for a free entry.
func (k *Kernel) handleAt(ht handleTable, h uint64, types map[uint64]string) (Handle, error) {
	// The low two bits are tag bits applications may use; the kernel
	// ignores them (OBJ_HANDLE_TAGBITS).
	h &^= 3
	if h == 0 || h >= ht.next {
		return Handle{}, fmt.Errorf("%w: %#x (table %#x has handles below %#x)", ErrNoHandle, h, ht.va, ht.next)
	}
	if (h>>2)%ht.perPage == 0 {
		return Handle{}, fmt.Errorf("%w: %#x is the first entry of a table page, never a handle", ErrNoHandle, h)
	}
	ea, err := k.entryAddr(ht, h)
	if err != nil {
		return Handle{}, err
	}
	header, access, err := k.decodeEntry(ea)
	if err != nil {
		return Handle{}, err
	}
	if header == 0 {
		return Handle{}, fmt.Errorf("%w: %#x is free", ErrNoHandle, h)
	}
	obj, err := k.ObjectAt(header, types)
	if err != nil {
		return Handle{}, err
	}
	return Handle{Value: h, Entry: ea, GrantedAccess: access, Object: obj}, nil
}

// handles lists every used entry of the table at va, a page of entries
// per read.
func (k *Kernel) handles(ctx context.Context, va uint64, what string) ([]Handle, error) {
	if va == 0 {
		return nil, nil
	}
	ht, err := k.readHandleTable(va)
	if err != nil {
		return nil, err
	}
	if ht.next/4 > uint64(k.limits.Handles) {
		return nil, &WalkError{What: what, At: va, Err: ErrTooLong, Msg: fmt.Sprintf("NextHandleNeedingPool %#x is past %d handles", ht.next, k.limits.Handles)}
	}
	pages, err := k.entryPages(ht)
	if err != nil {
		return nil, err
	}
	types := map[uint64]string{}
	var out []Handle
	page := make([]byte, ht.perPage*ht.entrySz)
	for n, pa := range pages {
		if pa == 0 {
			continue
		}
		if err := walkDone(ctx, what); err != nil {
			return out, err
		}
		if err := k.read(what+" entries", k.dtb, pa, page); err != nil {
			return out, err
		}
		// Entry 0 of each page is never a handle: Windows keeps it for
		// the table's own use.
		for i := uint64(1); i < ht.perPage; i++ {
			h := (uint64(n)*ht.perPage + i) * 4
			if h >= ht.next {
				break
			}
			ea := pa + i*ht.entrySz
			header, access, err := k.entryFields(&object{k: k, typ: "_HANDLE_TABLE_ENTRY", va: ea, buf: page[i*ht.entrySz : (i+1)*ht.entrySz]})
			if err != nil {
				return out, err
			}
			if header == 0 {
				continue
			}
			obj, err := k.ObjectAt(header, types)
			if err != nil {
				return out, fmt.Errorf("%s handle %#x: %w", what, h, err)
			}
			out = append(out, Handle{Value: h, Entry: ea, GrantedAccess: access, Object: obj})
		}
	}
	return out, nil
}

// entryPages lists the table's pages of entries in handle order (0 for a
// page not allocated), as many as NextHandleNeedingPool covers.
func (k *Kernel) entryPages(ht handleTable) ([]uint64, error) {
	n := (ht.next/4 + ht.perPage - 1) / ht.perPage
	base := ht.code &^ 3
	readPtrs := func(at, count uint64) ([]uint64, error) {
		count = min(count, ht.ptrsPage)
		buf := make([]byte, count*8)
		if err := k.read("handle table pointers", k.dtb, at, buf); err != nil {
			return nil, err
		}
		out := make([]uint64, count)
		for i := range out {
			out[i] = le64(buf[8*i:])
		}
		return out, nil
	}
	switch ht.code & 3 {
	case 0:
		return []uint64{base}, nil
	case 1:
		return readPtrs(base, n)
	case 2:
		mids, err := readPtrs(base, (n+ht.ptrsPage-1)/ht.ptrsPage)
		if err != nil {
			return nil, err
		}
		var out []uint64
		for _, mid := range mids {
			want := min(ht.ptrsPage, n-uint64(len(out)))
			if mid == 0 {
				out = append(out, make([]uint64, want)...)
				continue
			}
			ps, err := readPtrs(mid, want)
			if err != nil {
				return out, err
			}
			out = append(out, ps...)
		}
		return out, nil
	}
	return nil, &WalkError{What: "handle table", At: ht.va, Err: ErrCorrupt, Msg: fmt.Sprintf("TableCode %#x has level 3", ht.code)}
}

// Handles lists a process's open handles (EPROCESS.ObjectTable). On an
// error the handles read before it come with it.
func (k *Kernel) Handles(p Process) ([]Handle, error) {
	return k.HandlesContext(context.Background(), p)
}

// HandlesContext is Handles that stops when ctx ends.
func (k *Kernel) HandlesContext(ctx context.Context, p Process) ([]Handle, error) {
	return k.handles(ctx, p.ObjectTable, fmt.Sprintf("handles of pid %d", p.PID))
}

// KernelHandles lists ObpKernelHandleTable, the System process's table
// that kernel handles index.
func (k *Kernel) KernelHandles() ([]Handle, error) {
	return k.KernelHandlesContext(context.Background())
}

// KernelHandlesContext is KernelHandles that stops when ctx ends.
func (k *Kernel) KernelHandlesContext(ctx context.Context) ([]Handle, error) {
	va, err := k.kernelHandleTable()
	if err != nil {
		return nil, err
	}
	return k.handles(ctx, va, "kernel handles")
}

func (k *Kernel) kernelHandleTable() (uint64, error) {
	g, err := k.global("ObpKernelHandleTable")
	if err != nil {
		return 0, err
	}
	return k.pointer("ObpKernelHandleTable", g)
}

// LookupHandle resolves handle h as process p would: a kernel handle (the
// top bit of its 32-bit value set) through ObpKernelHandleTable, any other
// through p's table.
func (k *Kernel) LookupHandle(p Process, h uint64) (Handle, error) {
	table := p.ObjectTable
	value := h
	if h&kernelHandleBit != 0 {
		var err error
		if table, err = k.kernelHandleTable(); err != nil {
			return Handle{}, err
		}
		value = h & (kernelHandleBit - 1)
	}
	if table == 0 {
		return Handle{}, fmt.Errorf("%w: pid %d has no handle table", ErrNoHandle, p.PID)
	}
	ht, err := k.readHandleTable(table)
	if err != nil {
		return Handle{}, err
	}
	hd, err := k.handleAt(ht, value, nil)
	hd.Value = h
	return hd, err
}
