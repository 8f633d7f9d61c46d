package linuxguest

import (
	"fmt"
	"io"
	"path"
	"strings"
)

// The "newc" cpio format, the one the kernel unpacks into its initial
// root file system (Documentation/driver-api/early-userspace/
// buffer-format.rst): per entry a 110-byte ASCII header, the NUL-terminated
// name padded to 4 bytes, the data padded to 4 bytes; a "TRAILER!!!"
// entry ends the archive.
const (
	newcMagic   = "070701"
	newcHeader  = 110
	newcTrailer = "TRAILER!!!"

	// File types in the mode field, as in stat(2).
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
	modeType    = 0o170000
)

// CPIOWriter writes a newc archive. Entries carry uid/gid 0 and mtime 0,
// so the same inputs give the same bytes. A parent directory must be
// written before what it holds: the kernel creates entries in order and
// does not make missing parents.
type CPIOWriter struct {
	w      io.Writer
	ino    uint32
	dirs   map[string]bool
	names  map[string]bool
	err    error
	closed bool
}

// NewCPIOWriter starts an archive on w.
func NewCPIOWriter(w io.Writer) *CPIOWriter {
	return &CPIOWriter{w: w, dirs: map[string]bool{".": true}, names: map[string]bool{}}
}

// Dir adds a directory.
func (c *CPIOWriter) Dir(name string, perm uint32) error {
	if err := c.entry(name, modeDir|perm&0o7777, 0, 0, nil); err != nil {
		return err
	}
	c.dirs[name] = true
	return nil
}

// File adds a regular file holding data.
func (c *CPIOWriter) File(name string, perm uint32, data []byte) error {
	return c.entry(name, modeRegular|perm&0o7777, 0, 0, data)
}

// Symlink adds a symbolic link to target; the link's data is its target.
func (c *CPIOWriter) Symlink(name, target string) error {
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return fmt.Errorf("cpio: symlink %s: bad target %q", name, target)
	}
	return c.entry(name, modeSymlink|0o777, 0, 0, []byte(target))
}

// CharDev adds a character device node (major, minor).
func (c *CPIOWriter) CharDev(name string, perm, major, minor uint32) error {
	return c.entry(name, modeCharDev|perm&0o7777, major, minor, nil)
}

// Close writes the trailer. It does not close the underlying writer.
func (c *CPIOWriter) Close() error {
	if c.err != nil {
		return c.err
	}
	if c.closed {
		return nil
	}
	c.closed = true
	return c.write(newcTrailer, 0, 0, 0, nil, 1)
}

// checkName accepts a clean, relative path with no "..", whose parent
// directory the archive already holds.
func (c *CPIOWriter) checkName(name string) error {
	switch {
	case name == "" || name == "." || strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("cpio: bad name %q", name)
	case path.IsAbs(name) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../"):
		return fmt.Errorf("cpio: name %q is not a clean relative path", name)
	case name == newcTrailer:
		return fmt.Errorf("cpio: name %q is the trailer's", name)
	case c.names[name]:
		return fmt.Errorf("cpio: %s added twice", name)
	case !c.dirs[path.Dir(name)]:
		return fmt.Errorf("cpio: %s comes before its directory %s", name, path.Dir(name))
	}
	return nil
}

func (c *CPIOWriter) entry(name string, mode, rmajor, rminor uint32, data []byte) error {
	if c.err != nil {
		return c.err
	}
	if c.closed {
		return fmt.Errorf("cpio: %s added after Close", name)
	}
	if err := c.checkName(name); err != nil {
		return err
	}
	if uint64(len(data)) > 0xffffffff {
		return fmt.Errorf("cpio: %s: %d bytes do not fit the format's 32-bit size", name, len(data))
	}
	c.names[name] = true
	c.ino++
	nlink := uint32(1)
	if mode&modeType == modeDir {
		nlink = 2
	}
	return c.write(name, mode, rmajor, rminor, data, nlink)
}

// write emits one header, name and data, each padded to 4 bytes. A write
// error sticks: the archive is broken from there on.
func (c *CPIOWriter) write(name string, mode, rmajor, rminor uint32, data []byte, nlink uint32) error {
	ino := c.ino
	if name == newcTrailer {
		ino = 0
	}
	hdr := fmt.Sprintf("%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		newcMagic, ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rmajor, rminor, len(name)+1, 0)
	buf := make([]byte, 0, pad4(newcHeader+len(name)+1)+pad4(len(data)))
	buf = append(buf, hdr...)
	buf = append(buf, name...)
	buf = append(buf, 0)
	buf = append(buf, make([]byte, pad4(len(buf))-len(buf))...)
	buf = append(buf, data...)
	buf = append(buf, make([]byte, pad4(len(buf))-len(buf))...)
	if _, err := c.w.Write(buf); err != nil {
		c.err = fmt.Errorf("cpio: writing %s: %w", name, err)
		return c.err
	}
	return nil
}

// pad4 rounds n up to a multiple of 4. Header and name are padded
// together: the header is 110 bytes, so the name ends where the sum does.
func pad4(n int) int { return (n + 3) &^ 3 }
