package session

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/translate"
	"github.com/frostvmi/frost/vmi"
)

// A VM's directory under --data-dir supplies what is not in its RAM:
//
//	<data-dir>/<vm>/pagefiles/pagefile.sys   a paging file, by its base name
//	<data-dir>/<vm>/files/Windows/...        mapped files, by volume path
//
// Names come from guest memory, so both are opened through an os.Root:
// nothing the guest names can leave the directory.

func (c *Config) vmDir(vm, sub string) (*os.Root, bool) {
	if c == nil || c.DataDir == "" || strings.ContainsAny(vm, `/\`) || vm == ".." || vm == "." {
		return nil, false
	}
	r, err := os.OpenRoot(filepath.Join(c.DataDir, vm, sub))
	if err != nil {
		return nil, false
	}
	return r, true
}

// pagefiles opens a paging file by the base name of the guest's
// PageFileName (\??\C:\pagefile.sys → pagefile.sys).
func pagefiles(root *os.Root) nt.PagefileOpener {
	return func(pf nt.PagingFile) (io.ReaderAt, error) {
		name := pf.Name[strings.LastIndexAny(pf.Name, `\/`)+1:]
		if name == "" || name == "." || name == ".." {
			return nil, nil
		}
		f, err := root.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return f, err
	}
}

// supplyFiles rebuilds the kernel's translator with the VM's paging files
// and mapped files, when its directory has them.
func (s *Session) supplyFiles(k *nt.Opened) error {
	pf, havePF := s.cfg.vmDir(s.Name, "pagefiles")
	files, haveFiles := s.cfg.vmDir(s.Name, "files")
	if !havePF && !haveFiles {
		return nil
	}
	opt := nt.TranslatorOptions{Physical: vmi.ReaderAt(s.Target)}
	if havePF {
		opt.Pagefiles = pagefiles(pf)
	}
	if haveFiles {
		opt.Files = k.Files(translate.NewFileDir(files))
	}
	tr, err := k.NewTranslator(opt)
	if err != nil {
		return err
	}
	k.SetMemory(nt.TranslatorMemory{T: tr})
	k.Translator = tr
	return nil
}
