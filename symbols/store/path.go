package store

import (
	"fmt"
	"os"
	"strings"
)

// Element is one entry of a symbol path.
type Element struct {
	// Dir is a local directory searched in place (a plain entry, or a
	// srv* entry whose last part is not a URL).
	Dir string
	// Caches are the local directories of a srv* entry, searched in
	// order; downloads go into the first.
	Caches []string
	// Server is the http(s) URL of a srv* entry.
	Server string
}

func (e Element) String() string {
	if e.Server == "" {
		return e.Dir
	}
	return "srv*" + strings.Join(append(append([]string(nil), e.Caches...), e.Server), "*")
}

// ParsePath reads an _NT_SYMBOL_PATH-style path: ';'-separated entries,
// each a plain directory or srv*[cache*...]server, where server is an
// http(s) URL or a directory. "symsrv*symsrv.dll*" is accepted for "srv*".
// A srv* entry with no cache downloads into defaultCache; with none, it is
// an error.
func ParsePath(path, defaultCache string) ([]Element, error) {
	var out []Element
	for _, raw := range strings.Split(path, ";") {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		lower := strings.ToLower(entry)
		var rest string
		switch {
		case strings.HasPrefix(lower, "srv*"):
			rest = entry[len("srv*"):]
		case strings.HasPrefix(lower, "symsrv*symsrv.dll*"):
			rest = entry[len("symsrv*symsrv.dll*"):]
		case strings.HasPrefix(lower, "cache*"):
			// A cache entry is searched like a directory.
			out = append(out, Element{Dir: entry[len("cache*"):]})
			continue
		case strings.Contains(entry, "*"):
			return nil, fmt.Errorf("store: symbol path entry %q: unknown kind", entry)
		default:
			out = append(out, Element{Dir: entry})
			continue
		}
		parts := strings.Split(rest, "*")
		last := parts[len(parts)-1]
		caches := parts[:len(parts)-1]
		for _, c := range caches {
			if c == "" {
				return nil, fmt.Errorf("store: symbol path entry %q: empty cache", entry)
			}
		}
		if !isURL(last) {
			// srv*c:\local\store: a store on a share or disk.
			for _, c := range caches {
				out = append(out, Element{Dir: c})
			}
			out = append(out, Element{Dir: last})
			continue
		}
		if len(caches) == 0 {
			if defaultCache == "" {
				return nil, fmt.Errorf("store: symbol path entry %q has no cache directory: write srv*<cache>*%s", entry, last)
			}
			caches = []string{defaultCache}
		}
		out = append(out, Element{Caches: append([]string(nil), caches...), Server: strings.TrimRight(last, "/")})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("store: empty symbol path %q", path)
	}
	return out, nil
}

func isURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// FromEnv parses $_NT_SYMBOL_PATH.
func FromEnv(defaultCache string) ([]Element, error) {
	p := os.Getenv("_NT_SYMBOL_PATH")
	if p == "" {
		return nil, fmt.Errorf("store: _NT_SYMBOL_PATH is not set")
	}
	return ParsePath(p, defaultCache)
}
