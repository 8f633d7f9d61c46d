package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/frostvmi/frost/symbols"
)

// userAgent is what Microsoft's symbol server expects of a client.
const userAgent = "Microsoft-Symbol-Server/10.0.0.0"

const (
	defaultTimeout     = 2 * time.Minute
	defaultMaxDownload = 1 << 30
	maxRedirects       = 10
)

// errNotOnServer is a 404: try the next layout.
var errNotOnServer = errors.New("not on the server")

func (s *Store) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to %s", req.URL.Redacted())
			}
			return nil
		},
	}
}

// download fetches id's symbols from el's server into its first cache,
// under the layout the server had them in: the PDB layout first, then the
// ISF ones. A miss names every URL asked for.
func (s *Store) download(ctx context.Context, el Element, id symbols.Identity) (string, error) {
	cache := el.Caches[0]
	miss := &lookError{missing: "not on the server:"}
	for _, rel := range candidates(id, false) {
		dest := filepath.Join(cache, filepath.FromSlash(rel))
		u := el.Server + "/" + escape(rel)
		err := s.fetch(ctx, u, dest, id)
		if err == nil {
			return dest, nil
		}
		if !errors.Is(err, errNotOnServer) {
			return "", err
		}
		miss.tried = append(miss.tried, u)
	}
	// Nothing Frost reads; say so if the server has a form it does not.
	dir := el.Server + "/" + escape(path.Join(id.PDBName, id.PDBKey()))
	for _, name := range []string{compressedName(id.PDBName), "file.ptr"} {
		if s.exists(ctx, dir+"/"+url.PathEscape(name)) {
			return "", unsupported(dir + "/" + name)
		}
	}
	return "", miss
}

func escape(rel string) string {
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func (s *Store) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", u, ErrUnreachable, err)
	}
	return resp, nil
}

func (s *Store) exists(ctx context.Context, u string) bool {
	resp, err := s.get(ctx, u)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// fetch downloads u into dest: into a temporary file beside it, checked
// against id, then renamed. A failure leaves nothing behind.
func (s *Store) fetch(ctx context.Context, u, dest string, id symbols.Identity) (err error) {
	resp, err := s.get(ctx, u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return errNotOnServer
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s: HTTP %s", u, resp.Status)
	}
	max := s.MaxDownload
	if max == 0 {
		max = defaultMaxDownload
	}
	if resp.ContentLength > max {
		return fmt.Errorf("%s: %d bytes, over the %d-byte limit", u, resp.ContentLength, max)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".frost-download-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, max+1))
	if err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	if n > max {
		return fmt.Errorf("%s: over the %d-byte limit", u, max)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("%s: %d of %d bytes", u, n, resp.ContentLength)
	}
	got, err := identityOf(tmp, n, id.PDBName, u)
	if err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	if got.GUID != id.GUID || got.Age != id.Age {
		return fmt.Errorf("%s is %s: %w (%s)", u, got, ErrMismatch, id)
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}
