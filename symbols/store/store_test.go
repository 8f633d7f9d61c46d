package store

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/internal/minipdb"
	"github.com/frostvmi/frost/symbols/isf"
)

func guid(t *testing.T, s string) symbols.GUID {
	t.Helper()
	g, err := symbols.ParseGUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

const (
	guidA = "606FF669409B00F7FC8C61A9C1670129"
	guidB = "EA688B2EFD58986A4C4C44205044422E"
)

func miniPDB(t *testing.T, g string, age uint32) []byte {
	t.Helper()
	return (&minipdb.PDB{
		GUID: guid(t, g), Age: age,
		Sections: []minipdb.Section{{Name: ".text", VA: 0x1000, Size: 0x100}},
		Publics:  []minipdb.Public{{Name: "KiSystemStartup", Section: 1, Offset: 0x20}},
	}).Bytes()
}

func miniISF(t *testing.T, g string, age uint32, compress bool) []byte {
	t.Helper()
	d := &symbols.Data{
		ID:        symbols.Identity{GUID: guid(t, g), Age: age, PDBName: "ntkrnlmp.pdb"},
		Machine:   0x8664,
		BaseTypes: map[string]symbols.BaseType{"pointer": {Size: 8, Kind: symbols.BaseInt}},
		UserTypes: map[string]*symbols.UserType{},
		Enums:     map[string]*symbols.Enum{},
		Symbols:   map[string]symbols.Symbol{"KiSystemStartup": {Address: 0x1020}},
	}
	var buf bytes.Buffer
	write := isf.Write
	if compress {
		write = isf.WriteXZ
	}
	if err := write(&buf, d); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// symbolServer serves files by path and records what was asked.
type symbolServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	asked []string
}

func newServer(t *testing.T, files map[string][]byte) *symbolServer {
	s := &symbolServer{files: files}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.asked = append(s.asked, r.URL.Path)
		b, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		if r.Header.Get("User-Agent") != userAgent {
			http.Error(w, "bad user agent", http.StatusForbidden)
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *symbolServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

func id(t *testing.T, g string, age uint32) symbols.Identity {
	return symbols.Identity{GUID: guid(t, g), Age: age, PDBName: "ntkrnlmp.pdb"}
}

// noTemps fails if a download left a temporary file in the cache.
func noTemps(t *testing.T, cache string) {
	t.Helper()
	filepath.Walk(cache, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(info.Name(), ".frost-download-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

func TestLayouts(t *testing.T) {
	i := id(t, guidA, 26)
	if got := PDBPath(i); got != "ntkrnlmp.pdb/606FF669409B00F7FC8C61A9C16701291A/ntkrnlmp.pdb" {
		t.Errorf("PDBPath = %s", got)
	}
	if got := ISFPath(i, ".json.xz"); got != "ntkrnlmp.pdb/606FF669409B00F7FC8C61A9C1670129-26.json.xz" {
		t.Errorf("ISFPath = %s", got)
	}
	i.Age = 1
	if got := PDBPath(i); got != "ntkrnlmp.pdb/606FF669409B00F7FC8C61A9C16701291/ntkrnlmp.pdb" {
		t.Errorf("PDBPath age 1 = %s", got)
	}
	i.Age = 0x100
	if got := i.PDBKey(); got != guidA+"100" {
		t.Errorf("PDBKey age 0x100 = %s", got)
	}
}

func TestDownloadThenCacheHit(t *testing.T) {
	want := id(t, guidA, 1)
	srv := newServer(t, map[string][]byte{"/" + PDBPath(want): miniPDB(t, guidA, 1)})
	cache := t.TempDir()
	st, err := New("srv*"+cache+"*"+srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	tab, p, err := st.Load(context.Background(), want)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(cache, "ntkrnlmp.pdb", guidA+"1", "ntkrnlmp.pdb") {
		t.Errorf("stored at %s", p)
	}
	if a, err := tab.Address("KiSystemStartup"); err != nil || a != 0x1020 {
		t.Errorf("KiSystemStartup at %#x, %v", a, err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("%d requests for one download: %v", n, srv.requests())
	}
	// The second load is a cache hit: no request at all.
	if _, p2, err := st.Load(context.Background(), want); err != nil || p2 != p {
		t.Errorf("cache hit: %s, %v", p2, err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("the cache hit went to the server: %v", srv.requests())
	}
	noTemps(t, cache)
}

// TestAge26 stores age 0x1A under the names of both layouts.
func TestAge26(t *testing.T) {
	want := id(t, guidA, 26)
	pdbSrv := newServer(t, map[string][]byte{"/ntkrnlmp.pdb/" + guidA + "1A/ntkrnlmp.pdb": miniPDB(t, guidA, 26)})
	isfSrv := newServer(t, map[string][]byte{"/ntkrnlmp.pdb/" + guidA + "-26.json.xz": miniISF(t, guidA, 26, true)})
	for name, c := range map[string]struct {
		srv  *symbolServer
		file string
	}{
		"pdb": {pdbSrv, filepath.Join("ntkrnlmp.pdb", guidA+"1A", "ntkrnlmp.pdb")},
		"isf": {isfSrv, filepath.Join("ntkrnlmp.pdb", guidA+"-26.json.xz")},
	} {
		cache := t.TempDir()
		st, err := New("srv*"+cache+"*"+c.srv.URL+"/", "")
		if err != nil {
			t.Fatal(err)
		}
		tab, p, err := st.Load(context.Background(), want)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if p != filepath.Join(cache, c.file) || tab.Identity().Age != 26 {
			t.Errorf("%s: stored at %s, age %d; want %s", name, p, tab.Identity().Age, c.file)
		}
	}
	// The ISF server was first asked for the PDB, under its own name.
	if r := isfSrv.requests(); len(r) < 2 || r[0] != "/ntkrnlmp.pdb/"+guidA+"1A/ntkrnlmp.pdb" {
		t.Errorf("ISF server requests %v", r)
	}
}

func TestWrongGUIDRejected(t *testing.T) {
	want := id(t, guidA, 1)
	srv := newServer(t, map[string][]byte{"/" + PDBPath(want): miniPDB(t, guidB, 1)})
	cache := t.TempDir()
	st, _ := New("srv*"+cache+"*"+srv.URL, "")
	_, _, err := st.Load(context.Background(), want)
	if !errors.Is(err, ErrMismatch) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("a PDB with another GUID: %v", err)
	}
	if !strings.Contains(err.Error(), guidB) {
		t.Errorf("the error does not name the GUID it got: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache, filepath.FromSlash(PDBPath(want)))); !os.IsNotExist(err) {
		t.Errorf("the wrong file was cached: %v", err)
	}
	noTemps(t, cache)

	// A wrong age is as wrong.
	srv2 := newServer(t, map[string][]byte{"/" + PDBPath(want): miniPDB(t, guidA, 2)})
	st2, _ := New("srv*"+t.TempDir()+"*"+srv2.URL, "")
	if _, _, err := st2.Load(context.Background(), want); !errors.Is(err, ErrMismatch) {
		t.Errorf("a PDB with another age: %v", err)
	}
}

func TestServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	st, _ := New("srv*"+t.TempDir()+"*"+down, "")
	_, _, err = st.Load(context.Background(), id(t, guidA, 1))
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), down) {
		t.Errorf("a server that is down: %v", err)
	}
}

func TestOffline(t *testing.T) {
	want := id(t, guidA, 1)
	srv := newServer(t, map[string][]byte{"/" + PDBPath(want): miniPDB(t, guidA, 1)})
	cache := t.TempDir()
	st, _ := New("srv*"+cache+"*"+srv.URL, "")
	st.Offline = true
	if _, _, err := st.Load(context.Background(), want); !errors.Is(err, ErrOffline) {
		t.Errorf("offline, empty cache: %v", err)
	}
	if r := srv.requests(); len(r) != 0 {
		t.Errorf("offline mode asked the server: %v", r)
	}
	// With the file cached, offline mode finds it.
	p := filepath.Join(cache, filepath.FromSlash(PDBPath(want)))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, miniPDB(t, guidA, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, got, err := st.Load(context.Background(), want); err != nil || got != p {
		t.Errorf("offline, cached: %s, %v", got, err)
	}
	if r := srv.requests(); len(r) != 0 {
		t.Errorf("offline mode asked the server: %v", r)
	}
}

func TestRedirectFollowed(t *testing.T) {
	want := id(t, guidA, 1)
	real := newServer(t, map[string][]byte{"/blob/1": miniPDB(t, guidA, 1)})
	hops := 0
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/"+PDBPath(want) {
			hops++
			http.Redirect(w, r, "/hop", http.StatusFound)
			return
		}
		if r.URL.Path == "/hop" {
			http.Redirect(w, r, real.URL+"/blob/1", http.StatusMovedPermanently)
			return
		}
		http.NotFound(w, r)
	}))
	defer redir.Close()
	st, _ := New("srv*"+t.TempDir()+"*"+redir.URL, "")
	if _, _, err := st.Load(context.Background(), want); err != nil || hops != 1 {
		t.Errorf("through two redirects: %v (hops %d)", err, hops)
	}
	// A redirect loop ends.
	loop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path, http.StatusFound)
	}))
	defer loop.Close()
	st2, _ := New("srv*"+t.TempDir()+"*"+loop.URL, "")
	if _, _, err := st2.Load(context.Background(), want); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("a redirect loop: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	st, _ := New("srv*"+t.TempDir()+"*"+slow.URL, "")
	st.Timeout = 200 * time.Millisecond
	start := time.Now()
	_, _, err := st.Load(context.Background(), id(t, guidA, 1))
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "Timeout") {
		t.Errorf("a server that never answers: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("the timeout did not hold: %v", time.Since(start))
	}
}

// TestTruncatedDownload: a body cut short leaves no file in the cache.
func TestTruncatedDownload(t *testing.T) {
	want := id(t, guidA, 1)
	body := miniPDB(t, guidA, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+PDBPath(want) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", "999999")
		w.Write(body[:len(body)/2])
		// Returning with fewer bytes than promised closes the connection.
	}))
	defer srv.Close()
	cache := t.TempDir()
	st, _ := New("srv*"+cache+"*"+srv.URL, "")
	if _, _, err := st.Load(context.Background(), want); err == nil {
		t.Fatal("a truncated download was accepted")
	}
	if _, err := os.Stat(filepath.Join(cache, filepath.FromSlash(PDBPath(want)))); !os.IsNotExist(err) {
		t.Errorf("a truncated download was cached: %v", err)
	}
	noTemps(t, cache)
}

func TestCompressedAndFilePtrUnsupported(t *testing.T) {
	want := id(t, guidA, 1)
	dir := "/ntkrnlmp.pdb/" + guidA + "1/"
	for name, files := range map[string]map[string][]byte{
		"pd_":      {dir + "ntkrnlmp.pd_": []byte("MSCF....")},
		"file.ptr": {dir + "file.ptr": []byte(`PATH:\\server\share\ntkrnlmp.pdb`)},
		"cab body": {"/" + PDBPath(want): []byte("MSCF\x00\x00\x00\x00rest of a cabinet")},
	} {
		srv := newServer(t, files)
		cache := t.TempDir()
		st, _ := New("srv*"+cache+"*"+srv.URL, "")
		_, _, err := st.Load(context.Background(), want)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
		noTemps(t, cache)
	}
	// The same in a local store.
	local := t.TempDir()
	os.MkdirAll(filepath.Join(local, "ntkrnlmp.pdb", guidA+"1"), 0o755)
	os.WriteFile(filepath.Join(local, "ntkrnlmp.pdb", guidA+"1", "ntkrnlmp.pd_"), []byte("MSCF"), 0o644)
	st, _ := New(local, "")
	if _, _, err := st.Load(context.Background(), want); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a local .pd_: %v", err)
	}
}

// TestGuestNames: a PDB name from the guest never leaves the store.
func TestGuestNames(t *testing.T) {
	srv := newServer(t, nil)
	st, _ := New("srv*"+t.TempDir()+"*"+srv.URL, "")
	for _, name := range []string{"../../etc/passwd", `..\..\x.pdb`, "a/b.pdb", "..", "", "c:x.pdb", "x\x00.pdb", strings.Repeat("a", 300)} {
		i := id(t, guidA, 1)
		i.PDBName = name
		if _, _, err := st.Load(context.Background(), i); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("name %q: %v, want a refusal", name, err)
		}
	}
	if r := srv.requests(); len(r) != 0 {
		t.Errorf("bad names reached the server: %v", r)
	}
}

// TestLocalDirectories: plain directories in both layouts and flat, a
// wrong file skipped for a right one further along the path.
func TestLocalDirectories(t *testing.T) {
	want := id(t, guidA, 26)
	flat, store, isfDir := t.TempDir(), t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(flat, "ntkrnlmp.pdb"), miniPDB(t, guidB, 26), 0o644) // wrong GUID
	p := filepath.Join(isfDir, filepath.FromSlash(ISFPath(want, ".json")))
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, miniISF(t, guidA, 26, false), 0o644)
	st, err := New(flat+";"+store+"; "+isfDir+" ;", "")
	if err != nil {
		t.Fatal(err)
	}
	tab, got, err := st.Load(context.Background(), want)
	if err != nil || got != p {
		t.Fatalf("Load = %s, %v", got, err)
	}
	if a, err := tab.Address("KiSystemStartup"); err != nil || a != 0x1020 {
		t.Errorf("from the ISF: %#x, %v", a, err)
	}
	// Not anywhere: the error lists every place.
	_, _, err = st.Load(context.Background(), id(t, guidB, 3))
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), flat) || !strings.Contains(err.Error(), isfDir) {
		t.Errorf("not found: %v", err)
	}
}

func TestParsePath(t *testing.T) {
	els, err := ParsePath(`srv*C:\sym*https://msdl.microsoft.com/download/symbols/;D:\local;SRV*c1*c2*http://s;symsrv*symsrv.dll*c3*http://t;srv*\\share\store`, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`srv*C:\sym*https://msdl.microsoft.com/download/symbols`, `D:\local`, "srv*c1*c2*http://s", "srv*c3*http://t", `\\share\store`}
	if len(els) != len(want) {
		t.Fatalf("%d elements: %v", len(els), els)
	}
	for i, e := range els {
		if e.String() != want[i] {
			t.Errorf("element %d = %s, want %s", i, e, want[i])
		}
	}
	if _, err := ParsePath("srv*http://s", ""); err == nil {
		t.Error("srv*server without a cache and no default was accepted")
	}
	if els, err := ParsePath("srv*http://s", "/c"); err != nil || els[0].Caches[0] != "/c" {
		t.Errorf("default cache: %v, %v", els, err)
	}
	for _, bad := range []string{"", ";;", "weird*thing", "srv**http://s"} {
		if _, err := ParsePath(bad, "/c"); err == nil {
			t.Errorf("ParsePath(%q) accepted", bad)
		}
	}
}
