package api

import (
	"context"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Role is what a caller may do. Readers look (reads, lists, symbols,
// events that do not hold the guest); operators also act: hold, pause,
// step, arm breakpoints that outlive their stream, write (with
// --allow-write), boot, attach and detach.
type Role int

const (
	RoleNone Role = iota
	RoleReader
	RoleOperator
)

func (r Role) String() string {
	switch r {
	case RoleReader:
		return "reader"
	case RoleOperator:
		return "operator"
	}
	return "none"
}

// Roles decides a caller's role. Without it (nil) every caller who can
// reach the socket is an operator, as before roles existed: the socket's
// mode and the client CA are the only gates.
type Roles struct {
	// OperatorGID is the group whose members are operators on the unix
	// socket (--operator-group); OperatorGroup is its name, for messages.
	// Root and Self (frostd's own uid) are always operators.
	OperatorGID   uint32
	OperatorGroup string
	Self          uint32
	// Operators are the client certificates that make an operator on
	// TCP (--operators): each entry matches a certificate's subject
	// common name, or its whole subject ("CN=alice,O=lab").
	Operators []string
	// groupsOf lists a uid's groups (nil: the user database, cached).
	groupsOf func(uid uint32) ([]uint32, error)

	cache groupCache
}

// RoleOf is the caller's role.
func (r *Roles) roleOf(c caller) Role {
	switch {
	case c.unix != nil:
		if c.unix.UID == 0 || c.unix.UID == r.Self || (r.OperatorGroup != "" && c.unix.GID == r.OperatorGID) {
			return RoleOperator
		}
		if r.OperatorGroup != "" && r.inGroup(c.unix.UID) {
			return RoleOperator
		}
		return RoleReader
	case c.cert != nil:
		for _, op := range r.Operators {
			if op == c.cert.Subject.CommonName || op == c.cert.Subject.String() {
				return RoleOperator
			}
		}
		return RoleReader
	}
	// A caller nobody vouches for (a TCP client without a verified
	// certificate) may look but not act.
	return RoleReader
}

// inGroup asks the user database, since SO_PEERCRED gives only the
// primary gid: a member through /etc/group (usermod -aG) counts.
func (r *Roles) inGroup(uid uint32) bool {
	groups, err := r.cache.get(uid, r.groupsOf)
	return err == nil && slices.Contains(groups, r.OperatorGID)
}

// how says how to become an operator, for the denial.
func (r *Roles) how(c caller) string {
	if c.unix != nil {
		if r.OperatorGroup != "" {
			return "join group " + r.OperatorGroup + " (frostd --operator-group), then log in again"
		}
		return "connect as root or as frostd's own user"
	}
	if len(r.Operators) == 0 {
		return "frostd names no operator certificates (--operators)"
	}
	return "connect with a client certificate whose CN frostd lists in --operators"
}

// Interceptors refuse a call that needs more than the caller's role with
// PermissionDenied naming the role needed and how to get it. A streaming
// call whose role depends on its request (Subscribe that holds, a dump
// that pauses) is checked at its first request.
func (r *Roles) Interceptors() (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err := r.check(ctx, info.FullMethod, req); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		rule, ok := methodRoles[info.FullMethod]
		if ok && rule.byRequest != nil {
			return h(srv, &roleStream{ServerStream: ss, r: r, method: info.FullMethod})
		}
		if err := r.check(ss.Context(), info.FullMethod, nil); err != nil {
			return err
		}
		return h(srv, ss)
	}
	return unary, stream
}

func (r *Roles) check(ctx context.Context, method string, req any) error {
	need, err := roleFor(method, req)
	if err != nil {
		return err
	}
	c := callerOf(ctx)
	if have := r.roleOf(c); have < need {
		return status.Errorf(codes.PermissionDenied, "%s needs the %s role; %s is a %s: %s",
			shortMethod(method), need, c, have, r.how(c))
	}
	return nil
}

// roleStream checks the role at the first request, which says whether the
// call holds or pauses the guest.
type roleStream struct {
	grpc.ServerStream
	r       *Roles
	method  string
	checked bool
}

func (s *roleStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if !s.checked {
		s.checked = true
		return s.r.check(s.Context(), s.method, m)
	}
	return nil
}

// roleFor is the role a method needs; a Frost method missing from the
// table is refused (fail closed), others (health, reflection) are open to
// readers.
func roleFor(method string, req any) (Role, error) {
	rule, ok := methodRoles[method]
	if !ok {
		if strings.HasPrefix(method, "/frost.") {
			return RoleNone, status.Errorf(codes.PermissionDenied, "%s has no role assigned in frostd: refused", shortMethod(method))
		}
		return RoleReader, nil
	}
	if rule.byRequest != nil && req != nil {
		return rule.byRequest(req), nil
	}
	return rule.role, nil
}

func shortMethod(m string) string {
	if i := strings.LastIndex(m, "."); i >= 0 {
		return m[i+1:]
	}
	return m
}

// groupCache remembers a uid's groups for a minute: the user database is a
// file read per lookup, too slow for every call, and a membership change
// takes effect within the minute.
type groupCache struct {
	mu sync.Mutex
	m  map[uint32]groupEntry
}

type groupEntry struct {
	groups []uint32
	at     time.Time
}

const groupCacheTTL = time.Minute

func (g *groupCache) get(uid uint32, lookup func(uint32) ([]uint32, error)) ([]uint32, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.m[uid]; ok && time.Since(e.at) < groupCacheTTL {
		return e.groups, nil
	}
	if lookup == nil {
		lookup = userGroups
	}
	groups, err := lookup(uid)
	if err != nil {
		return nil, err
	}
	if g.m == nil || len(g.m) > 1024 {
		g.m = map[uint32]groupEntry{}
	}
	g.m[uid] = groupEntry{groups: groups, at: time.Now()}
	return groups, nil
}

func userGroups(uid uint32) ([]uint32, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return nil, err
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, err
	}
	var out []uint32
	for _, id := range ids {
		n, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("group id %q of uid %d: %w", id, uid, err)
		}
		out = append(out, uint32(n))
	}
	return out, nil
}
