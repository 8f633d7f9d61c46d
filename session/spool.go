package session

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Uploads (a PDB to convert) are spooled to disk, since their readers
// want random access. Each upload is capped on its own, but many at once
// could still fill the disk, and a spool in /tmp outlives a crashed
// frostd and is open to other users. So a Spool is a directory of
// frostd's own (0700, owned by frostd's user), a cap on the bytes all
// uploads spool together, and a reaper at start for what a dead frostd
// left. Errors never carry the spool's paths: they reach clients.

// DefaultSpoolBytes caps the bytes being spooled at once, across uploads.
const DefaultSpoolBytes = 4 << 30

// ErrSpoolFull: an upload would take the spool past its cap.
var ErrSpoolFull = errors.New("uploads being spooled have reached frostd's limit; try again when others finish")

// spoolPrefix names spool files upload-<pid>-…, so a reaper knows which
// frostd made each.
const spoolPrefix = "upload-"

// Spool is a directory for uploads in flight, with a cap on their bytes.
type Spool struct {
	dir string
	max int64

	mu   sync.Mutex
	used int64
}

// OpenSpool makes (or checks) dir, then removes the files of frostd
// processes that no longer run.
func OpenSpool(dir string, max int64) (*Spool, error) {
	if max <= 0 {
		max = DefaultSpoolBytes
	}
	if err := ownDir(dir); err != nil {
		return nil, err
	}
	sp := &Spool{dir: dir, max: max}
	sp.reap()
	return sp, nil
}

// ownDir makes dir 0700 if missing, and refuses one that another user
// owns or others can enter: their files would be read as uploads.
func ownDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("making the spool directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("spool %s is not a directory", dir)
	case !ok || int(st.Uid) != os.Geteuid():
		return fmt.Errorf("spool %s is not owned by frostd's user (uid %d)", dir, os.Geteuid())
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("spool %s is open to other users (mode %v); make it 0700", dir, fi.Mode().Perm())
	}
	return nil
}

// reap removes spool files whose frostd is gone (a crash mid-upload).
func (sp *Spool) reap() {
	ents, err := os.ReadDir(sp.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, ok := spoolPID(e.Name())
		if !ok || pid == os.Getpid() || alive(pid) {
			continue
		}
		_ = os.Remove(filepath.Join(sp.dir, e.Name()))
	}
}

// spoolPID is the pid in a spool file's name.
func spoolPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, spoolPrefix)
	if !ok {
		return 0, false
	}
	p, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	return pid, err == nil && pid > 0
}

// alive says whether pid runs (EPERM: it runs, as another user).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Create starts a spool file. Its name is gone from the directory while
// it is open only after Close: a reader reopening it by name is not
// needed, since File gives the open file.
func (sp *Spool) Create() (*SpoolFile, error) {
	f, err := os.CreateTemp(sp.dir, spoolPrefix+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return nil, pathless("creating a spool file", err)
	}
	return &SpoolFile{f: f, sp: sp}, nil
}

// SpoolFile is one upload being spooled.
type SpoolFile struct {
	f    *os.File
	sp   *Spool
	size int64
}

// Write appends p, within the spool's cap.
func (s *SpoolFile) Write(p []byte) (int, error) {
	n := int64(len(p))
	s.sp.mu.Lock()
	if s.sp.used+n > s.sp.max {
		s.sp.mu.Unlock()
		return 0, ErrSpoolFull
	}
	s.sp.used += n
	s.sp.mu.Unlock()
	s.size += n
	k, err := s.f.Write(p)
	if err != nil {
		return k, pathless("spooling", err)
	}
	return k, nil
}

// File is the spool file, for reading back; Size how much was written.
func (s *SpoolFile) File() *os.File { return s.f }
func (s *SpoolFile) Size() int64    { return s.size }

// Close removes the file and gives its bytes back to the cap.
func (s *SpoolFile) Close() error {
	name := s.f.Name()
	err := s.f.Close()
	if rerr := os.Remove(name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	s.sp.mu.Lock()
	s.sp.used -= s.size
	s.sp.mu.Unlock()
	s.size = 0
	return pathless("removing a spool file", err)
}

// Used is the bytes spooled now.
func (sp *Spool) Used() int64 {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.used
}

// pathless keeps an error's cause and drops the file name a *PathError
// carries: the spool's layout is frostd's business, not its clients'.
func pathless(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %s: %w", op, pe.Op, pe.Err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// SpoolDir is where uploads are spooled: beside --data-dir (frostd's
// own tree, /var/lib/frost/spool by default), or the user's cache
// directory when there is no data directory. Never /tmp.
func (c *Config) SpoolDir() (string, error) {
	if c != nil && c.DataDir != "" {
		return filepath.Join(filepath.Dir(filepath.Clean(c.DataDir)), "spool"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no spool directory: no --data-dir and %w", err)
	}
	return filepath.Join(d, "frost", "spool"), nil
}

// Spool is this frostd's upload spool, opened (and reaped) on first use.
func (c *Config) Spool() (*Spool, error) {
	sh := c.sharedOf()
	sh.spoolOnce.Do(func() {
		dir, err := c.SpoolDir()
		if err == nil {
			sh.spool, err = OpenSpool(dir, 0)
		}
		if err != nil {
			c.log().Error("no upload spool: PDB conversion is off", "error", err)
			sh.spoolErr = errors.New("frostd has no usable spool directory for uploads (see its log)")
		}
	})
	return sh.spool, sh.spoolErr
}
