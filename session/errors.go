package session

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// ErrNoSymbols: the session's frostd has no symbol path, so nothing
// Windows-specific can be found.
var ErrNoSymbols = errors.New("session: no symbol path: start frostd with --symbol-path or _NT_SYMBOL_PATH")

// AlreadyAttachedError: the registry holds a session by that name.
type AlreadyAttachedError struct{ Name string }

func (e *AlreadyAttachedError) Error() string { return "VM " + e.Name + " is already attached" }

// NotAttachedError: no session by that name. Known lists libvirt's
// domains when the name is none of them (a typo, not something to
// attach); IsDomain says the name is a domain that is simply not
// attached; ListErr says why the name could not be checked.
type NotAttachedError struct {
	Name     string
	IsDomain bool
	Checked  bool // libvirt's domains were listed
	Known    []string
	ListErr  error
}

func (e *NotAttachedError) Error() string {
	switch {
	case e.ListErr != nil:
		return "VM " + e.Name + " is not attached (libvirt could not list its domains to check the name: " + e.ListErr.Error() + ")"
	case !e.Checked || e.IsDomain:
		return "VM " + e.Name + " is not attached: attach it first"
	case len(e.Known) == 0:
		return "no domain named " + strconv.Quote(e.Name) + ": libvirt has no domains"
	}
	known := append([]string(nil), e.Known...)
	sort.Strings(known)
	return "no domain named " + strconv.Quote(e.Name) + "; libvirt's domains are: " + strings.Join(known, ", ")
}

// NoSuchDomain says the name is no domain at all (a typo).
func (e *NotAttachedError) NoSuchDomain() bool { return e.Checked && !e.IsDomain && e.ListErr == nil }
