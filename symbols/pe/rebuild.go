package pe

import (
	"encoding/binary"
	"sort"
)

// Rebuilt is an image read from memory and laid out as a PE file again.
type Rebuilt struct {
	// File is the PE file. Its sections hold what memory held, relocated
	// and with imports bound, so it is a picture of the loaded module,
	// not the file it was loaded from.
	File []byte
	// Unreadable lists the page addresses (ascending) that could not be
	// read. Their bytes in File are zero and the caller MUST report them:
	// a dump that silently holds zeros for code lies to its reader.
	Unreadable []uint64
	// Headers are the headers as memory held them, before the rewrite.
	Headers *Headers
}

// Rebuild writes the image mapped at base back into file layout, as a
// module dump (Volatility's moddump, pe-sieve's dump) does:
//
//   - The headers (SizeOfHeaders bytes, or up to the section table's end
//     if that is further) come first, padded to FileAlignment.
//   - Each section follows at the next FileAlignment boundary, with
//     SizeOfRawData its mapped size (VirtualSize, or SizeOfRawData when
//     that is zero) rounded up to FileAlignment. Memory is what is being
//     dumped: .data's tail past the file's bytes, and .bss, hold the
//     program's state, so the file's smaller SizeOfRawData would cut it
//     off. Raw data never runs past the next section's pointer, which is
//     what debug/pe and llvm-readobj check.
//   - ImageBase is set to base. The bytes in memory are relocated to
//     base, so the header then agrees with every absolute address in the
//     dump (pe-sieve and Volatility's pedump do the same); the preferred
//     base stays in Headers.ImageBase.
//   - The certificate directory, a file offset to data the loader never
//     maps, is cleared, and each debug directory entry's PointerToRawData
//     is pointed at its record's new place, so tools that read CodeView
//     by file offset find it.
//   - The checksum is recomputed over the new file: the original one
//     cannot hold for relocated bytes, and a driver loader that checks it
//     would reject a stale one. The original is in Headers.CheckSum.
//
// A FileAlignment the format does not allow (a power of two from 512 to
// 64 KiB, or equal to a SectionAlignment under a page) is replaced by
// 512. Pages that cannot be read are listed in Unreadable, not fatal;
// the headers' first page is needed, though.
func Rebuild(m Memory, base uint64) (*Rebuilt, error) {
	return rebuild(m, base, MaxImageSize)
}

// rebuild is Rebuild with a bound on SizeOfImage, so a fuzz target can
// keep its allocations small.
func rebuild(m Memory, base uint64, limit uint32) (*Rebuilt, error) {
	h, err := MappedHeaders(m, base)
	if err != nil {
		return nil, err
	}
	if h.SizeOfImage > limit {
		return nil, bad("SizeOfImage %#x over %#x", h.SizeOfImage, limit)
	}
	fa := fileAlignment(h)
	hdrLen := alignUp(uint64(max(h.SizeOfHeaders, h.sectionTableEnd())), fa)
	ptrs := make([]uint64, len(h.Sections))
	sizes := make([]uint64, len(h.Sections))
	total := hdrLen
	for i, s := range h.Sections {
		if sizes[i] = alignUp(uint64(s.MappedSize()), fa); sizes[i] != 0 {
			ptrs[i] = total
		}
		total += sizes[i]
	}
	// Sections that do not overlap fill at most the image, plus a
	// FileAlignment of padding each; more means they overlap, and the
	// file would repeat the image over and over.
	if bound := uint64(h.SizeOfImage) + uint64(len(h.Sections)+1)*uint64(fa); total > bound {
		return nil, bad("sections would make a file of %#x bytes from an image of %#x: they overlap", total, h.SizeOfImage)
	}
	r := &Rebuilt{File: make([]byte, total), Headers: h}
	unreadable := map[uint64]bool{}
	readInto(m, base, r.File[:min(hdrLen, uint64(h.SizeOfImage))], unreadable)
	// A header page may be readable only in part (its tail past the end
	// of a mapping): the parts MappedHeaders read are what the rewrite
	// below edits, so they are kept; the page is still listed.
	for _, p := range h.read {
		copy(r.File[p.off:], p.b)
	}
	for i, s := range h.Sections {
		readInto(m, base+uint64(s.VirtualAddress), r.File[ptrs[i]:ptrs[i]+uint64(s.MappedSize())], unreadable)
	}
	for p := range unreadable {
		r.Unreadable = append(r.Unreadable, p)
	}
	sort.Slice(r.Unreadable, func(i, j int) bool { return r.Unreadable[i] < r.Unreadable[j] })
	r.rewriteHeaders(uint32(fa), uint32(hdrLen), ptrs, sizes)
	return r, nil
}

// readInto fills dst from addr a page at a time; a page that cannot be
// read is left zero and noted in unreadable.
func readInto(m Memory, addr uint64, dst []byte, unreadable map[uint64]bool) {
	for off := uint64(0); off < uint64(len(dst)); {
		a := addr + off
		chunk := dst[off:min(uint64(len(dst)), off+PageSize-a%PageSize)]
		if n, err := m.ReadAt(chunk, a); err != nil || n != len(chunk) {
			clear(chunk) // a failed read may have written part of it
			unreadable[a&^(PageSize-1)] = true
		}
		off += uint64(len(chunk))
	}
}

// rewriteHeaders makes the copied headers describe the new layout.
func (r *Rebuilt) rewriteHeaders(fa, hdrLen uint32, ptrs, sizes []uint64) {
	le := binary.LittleEndian
	h, f := r.Headers, r.File
	opt := f[h.LfaNew+ntHeaderSize:]
	for i, s := range h.Sections {
		sh := f[h.sectionHeader(i):]
		// A VirtualSize of zero meant "SizeOfRawData": with that now
		// rounded up, it would claim more than the image mapped.
		le.PutUint32(sh[shVirtualSize:], s.MappedSize())
		le.PutUint32(sh[shRawSize:], uint32(sizes[i]))
		le.PutUint32(sh[shRawPtr:], uint32(ptrs[i]))
	}
	if h.PE32Plus {
		le.PutUint64(opt[ohImageBase64:], h.Base)
	} else if h.Base <= 0xffffffff {
		le.PutUint32(opt[ohImageBase32:], uint32(h.Base))
	}
	le.PutUint32(opt[ohFileAlign:], fa)
	le.PutUint32(opt[ohSizeOfHdrs:], hdrLen)
	dirs := ohDirs32
	if h.PE32Plus {
		dirs = ohDirs64
	}
	if len(h.Directories) > DirSecurity {
		at := dirs + 8*DirSecurity
		le.PutUint64(opt[at:], 0)
	}
	r.fixDebugPointers()
	le.PutUint32(opt[ohCheckSum:], 0)
	le.PutUint32(opt[ohCheckSum:], checksum(f))
}

// fixDebugPointers points each debug entry's file offset at its record
// in the new layout, or at nothing when no section holds the record.
func (r *Rebuilt) fixDebugPointers() {
	le := binary.LittleEndian
	h := r.Headers
	d, err := h.directory(DirDebug, maxDebugEntries*debugEntrySize, "debug directory")
	if err != nil {
		return
	}
	at, ok := r.fileOffset(d.RVA, d.Size)
	if !ok {
		return
	}
	for e := r.File[at : at+uint64(d.Size)]; len(e) >= debugEntrySize; e = e[debugEntrySize:] {
		size, rva := le.Uint32(e[entrySizeOfData:]), le.Uint32(e[entryRVA:])
		ptr, ok := r.fileOffset(rva, size)
		if rva == 0 || !ok {
			ptr = 0
		}
		le.PutUint32(e[entryFilePtr:], uint32(ptr))
	}
}

// fileOffset maps [rva, rva+size) to the rebuilt file, if one section's
// raw data holds it all.
func (r *Rebuilt) fileOffset(rva, size uint32) (uint64, bool) {
	le := binary.LittleEndian
	for i, s := range r.Headers.Sections {
		sh := r.File[r.Headers.sectionHeader(i):]
		raw, ptr := le.Uint32(sh[shRawSize:]), le.Uint32(sh[shRawPtr:])
		if rva >= s.VirtualAddress && uint64(rva)+uint64(size) <= uint64(s.VirtualAddress)+uint64(min(raw, s.MappedSize())) {
			return uint64(ptr) + uint64(rva-s.VirtualAddress), true
		}
	}
	return 0, false
}

// fileAlignment is the image's FileAlignment if the format allows it.
func fileAlignment(h *Headers) uint64 {
	fa := h.FileAlignment
	pow2 := fa != 0 && fa&(fa-1) == 0
	if pow2 && fa >= 512 && fa <= 64<<10 || pow2 && fa == h.SectionAlignment && fa < PageSize {
		return uint64(fa)
	}
	return 512
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// checksum is the PE image checksum of f, whose checksum field is zero:
// its 16-bit words summed with the carry folded back in, plus its length.
func checksum(f []byte) uint32 {
	var sum uint64
	for i := 0; i < len(f); i += 2 {
		w := uint64(f[i])
		if i+1 < len(f) {
			w |= uint64(f[i+1]) << 8
		}
		sum += w
		sum = (sum & 0xffff) + (sum >> 16)
	}
	sum = (sum & 0xffff) + (sum >> 16)
	return uint32(sum) + uint32(len(f))
}
