package translate

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fileDir makes a directory with Windows\System32\frostimg.dll (content
// img), a secret outside it, and symlinks that try to lead out.
func fileDir(t *testing.T, img []byte) (*FileDir, string) {
	t.Helper()
	top := t.TempDir()
	dir := filepath.Join(top, "files")
	secret := filepath.Join(top, "secret")
	must(t, os.MkdirAll(filepath.Join(dir, "Windows", "System32"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "Windows", "System32", "frostimg.dll"), img, 0o644))
	must(t, os.WriteFile(secret, []byte("secret"), 0o644))
	must(t, os.Symlink(secret, filepath.Join(dir, "evil.dll")))
	must(t, os.Symlink(top, filepath.Join(dir, "up")))
	must(t, os.Symlink(filepath.Join("System32", "frostimg.dll"), filepath.Join(dir, "Windows", "alias.dll")))
	must(t, os.WriteFile(filepath.Join(dir, "A.dll"), []byte("upper"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "a.dll"), []byte("lower"), 0o644))
	root, err := os.OpenRoot(dir)
	must(t, err)
	t.Cleanup(func() { root.Close() })
	d := NewFileDir(root)
	t.Cleanup(func() { d.Close() })
	return d, secret
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestFileDirNames(t *testing.T) {
	img := []byte("MZ frostimg")
	d, _ := fileDir(t, img)
	read := func(name string) ([]byte, error) {
		r, err := d.Open(name)
		if err != nil {
			return nil, err
		}
		b := make([]byte, 64)
		n, _ := r.ReadAt(b, 0)
		return b[:n], nil
	}
	for _, name := range []string{
		`\Windows\System32\frostimg.dll`,
		`\WINDOWS\system32\FrostImg.DLL`,
		`Windows\System32\frostimg.dll`,
		`\Windows\alias.dll`, // a symlink that stays inside
	} {
		if b, err := read(name); err != nil || !bytes.Equal(b, img) {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
	if b, err := read(`\a.dll`); err != nil || string(b) != "lower" {
		t.Errorf(`\a.dll: an exact match wins: %q, %v`, b, err)
	}

	for _, name := range []string{
		`\..\..\etc\passwd`,
		`..\secret`,
		`\Windows\..\..\secret`,
		`\Windows\...\x`,
		`\Windows\. .\x`,
		`\Windows\.\System32\frostimg.dll`,
		`C:\Windows\System32\frostimg.dll`,
		`\\?\C:\Windows\System32\frostimg.dll`,
		`\\server\share\x`,
		`/etc/passwd`,
		`\Windows/System32\frostimg.dll`,
		`\Windows\System32\frostimg.dll:stream`,
		`\Windows\System32\frostimg.dll.`,
		`\Windows\\System32\frostimg.dll`,
		"\\Windows\x00",
		``,
	} {
		_, err := d.Open(name)
		var ne *NameError
		if !errors.As(err, &ne) || !errors.Is(err, ErrUnsafeName) {
			t.Errorf("%q: %v, want a NameError", name, err)
		}
	}

	for _, name := range []string{
		`\evil.dll`,     // a symlink to a file outside
		`\up\secret`,    // through a symlink to a directory outside
		`\A.DLL`,        // A.dll and a.dll: ambiguous
		`\Windows\nope`, // missing
		`\Windows`,      // a directory
	} {
		b, err := read(name)
		if !errors.Is(err, ErrFileNotSupplied) || b != nil {
			t.Errorf("%s: %q, %v; want ErrFileNotSupplied and no bytes", name, b, err)
		}
	}
}

// TestFileBackedRead: a file-backed page is served byte-exact from the
// supplied file, by name through a FileDir; a hostile name is refused.
func TestFileBackedRead(t *testing.T) {
	file := make([]byte, 0x6000)
	for i := range file {
		file[i] = byte(i*13 + i>>9)
	}
	d, _ := fileDir(t, file)
	for _, c := range []struct {
		name string
		err  error
	}{
		{`\Windows\System32\frostimg.dll`, nil},
		{`\windows\system32\FROSTIMG.dll`, nil},
		{`\..\..\etc\passwd`, ErrUnsafeName},
		{`\Windows\System32\other.dll`, ErrFileNotSupplied},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGuest(t, 36, mask46)
			g.b.subsection(g.dtb, g.subs, g.pool+0x100, 4, 8, 17, 0x34)
			for k := uint64(0); k < 4; k++ {
				p := g.protoSlot(0x100/8+k, g.b.subsectionPTE(g.subs, 3))
				g.b.setInvalid(g.dtb, g.va+k*pageSize, LevelPTE, g.b.protoPointer(p))
			}
			names := func(sub uint64) (string, error) { return c.name, nil }
			tr := g.b.translator(mask46, func(cfg *Config) { cfg.Files = FilesByName{Names: names, Dir: d} })
			buf := make([]byte, 4*pageSize)
			res := tr.ReadVirtual(g.dtb, g.va, buf)
			if c.err != nil {
				for _, p := range res.Pages() {
					if !errors.Is(p.Err, c.err) {
						t.Errorf("page 0x%x: %v, want %v", p.VA, p.Err, c.err)
					}
				}
				if res.N != 0 || !bytes.Equal(buf, make([]byte, len(buf))) {
					t.Errorf("served %d bytes", res.N)
				}
				return
			}
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			for k := uint64(0); k < 4; k++ {
				if !bytes.Equal(buf[k*pageSize:(k+1)*pageSize], fileBytes(file, k)) {
					t.Errorf("page %d differs from the file at 0x%x", k, 0x1000+k*pageSize)
				}
			}
			// The fourth page lies wholly past the data: zeros, served.
			if res.Pages()[3].Location.Addr != 0x4000 || !bytes.Equal(buf[3*pageSize:], make([]byte, pageSize)) {
				t.Errorf("page past the data: %+v", res.Pages()[3])
			}
		})
	}
}
