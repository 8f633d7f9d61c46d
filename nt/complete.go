package nt

import (
	"context"
	"sort"
	"strings"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/pe"
)

// MaxCompletions bounds one completion: a shell's tab shows a screenful,
// and a prefix of one letter must not send a kernel PDB's 100,000 names.
const MaxCompletions = 1000

// Complete lists what "module!name" prefix can become, for a shell's tab:
// with no "!", the modules (the kernel's, and p's images when p is given)
// whose name begins with prefix, each as "module!"; with one, the names
// of that module's PDB and exports that begin with what follows it, each
// as "module!name". Case does not matter; the answer is sorted, at most
// limit long (truncated says more matched). A module without PDB or
// readable exports completes to nothing: completion is a hint, so only
// the module's absence is an error.
func (s *Symbolizer) Complete(ctx context.Context, dtb uint64, p *Process, prefix string, limit int) (names []string, truncated bool, err error) {
	if limit <= 0 || limit > MaxCompletions {
		limit = MaxCompletions
	}
	module, name, hasBang := strings.Cut(prefix, "!")
	if !hasBang {
		return s.completeModules(p, prefix, limit)
	}
	m, err := s.FindImage(p, module)
	if err != nil {
		return nil, false, err
	}
	c := newCompletions(module+"!", name, limit)
	if t, _, err := s.table(ctx, dtb, m); err == nil {
		TableNames(t, c.offer)
	}
	if ex, _ := s.exports(dtb, m); ex != nil {
		exportNames(ex, c.offer)
	}
	names, truncated = c.result()
	return names, truncated, nil
}

// completeModules lists the module names that begin with prefix.
func (s *Symbolizer) completeModules(p *Process, prefix string, limit int) ([]string, bool, error) {
	c := newCompletions("", prefix, limit)
	// The kernel is "nt" whether or not its module list can be read.
	c.offer("nt!")
	list, err := s.driverList(false)
	if p != nil {
		user, uerr := s.processList(*p, false)
		list = append(list, user...)
		if err == nil {
			err = uerr
		}
	}
	for _, m := range list {
		c.offer(m.ModuleName() + "!")
	}
	names, truncated := c.result()
	if len(names) > 0 {
		// Some lists were read: what they named is the answer, even if
		// another failed.
		err = nil
	}
	return names, truncated, err
}

// CompleteIn lists the names of one symbol table that begin with prefix,
// each as "module!name", as Complete does.
func CompleteIn(t symbols.Symbols, module, prefix string, limit int) ([]string, bool) {
	if limit <= 0 || limit > MaxCompletions {
		limit = MaxCompletions
	}
	c := newCompletions(module+"!", prefix, limit)
	TableNames(t, c.offer)
	return c.result()
}

// TableNames calls offer with every public symbol of t, when t is a
// table that can list them (a PDB or ISF loaded by the symbols package).
func TableNames(t symbols.Symbols, offer func(string)) {
	lister, ok := t.(interface{ Data() *symbols.Data })
	if !ok {
		return
	}
	for name := range lister.Data().Symbols {
		offer(name)
	}
}

func exportNames(ex *pe.Exports, offer func(string)) {
	for _, e := range ex.List {
		if e.Name != "" {
			offer(e.Name)
		}
	}
}

// completions gathers the names that begin with a prefix (any case), at
// most limit of them in the end, first by name.
type completions struct {
	lead, prefix string
	limit        int
	seen         map[string]bool
}

func newCompletions(lead, prefix string, limit int) *completions {
	return &completions{lead: lead, prefix: prefix, limit: limit, seen: map[string]bool{}}
}

// offer keeps name when it matches. It keeps every match (a map of
// strings the table already holds); result sorts and cuts, so which names
// survive the limit does not depend on map order.
func (c *completions) offer(name string) {
	if len(name) < len(c.prefix) || !strings.EqualFold(name[:len(c.prefix)], c.prefix) {
		return
	}
	c.seen[name] = true
}

func (c *completions) result() ([]string, bool) {
	out := make([]string, 0, min(len(c.seen), c.limit))
	for n := range c.seen {
		out = append(out, n)
	}
	sort.Strings(out)
	truncated := len(out) > c.limit
	if truncated {
		out = out[:c.limit]
	}
	for i := range out {
		out[i] = c.lead + out[i]
	}
	return out, truncated
}
