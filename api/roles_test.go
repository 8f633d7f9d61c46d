package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// TestRoleTableCoversEveryRPC: every method of every service Register
// adds has a role, and the table names no method that does not exist, so
// a new RPC cannot be forgotten (it would be refused at run time).
func TestRoleTableCoversEveryRPC(t *testing.T) {
	srv := grpc.NewServer()
	Register(srv, Config{})
	seen := map[string]bool{}
	for svc, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			seen[full] = true
			if _, ok := methodRoles[full]; !ok {
				t.Errorf("%s has no role in methodRoles (api/roles_table.go)", full)
			}
		}
	}
	if len(seen) < 40 {
		t.Fatalf("only %d methods registered: the test sees too little", len(seen))
	}
	for m := range methodRoles {
		if !seen[m] {
			t.Errorf("methodRoles names %s, which no service has", m)
		}
	}
}

func TestRoleForRequest(t *testing.T) {
	for _, c := range []struct {
		method string
		req    any
		want   Role
	}{
		{"/frost.v1.BreakpointService/Subscribe", &pb.SubscribeRequest{}, RoleReader},
		{"/frost.v1.BreakpointService/Subscribe", &pb.SubscribeRequest{Hold: true}, RoleOperator},
		{"/frost.v1.DumpService/DumpPhysicalToFile", &pb.DumpPhysicalToFileRequest{}, RoleOperator},
		{"/frost.v1.DumpService/DumpPhysicalToFile", &pb.DumpPhysicalToFileRequest{Live: true}, RoleReader},
		{"/frost.v1.DumpService/DumpProcess", &pb.DumpProcessRequest{Live: true}, RoleReader},
		// A request of the wrong type gets the stricter answer.
		{"/frost.v1.BreakpointService/Subscribe", &pb.PauseRequest{}, RoleOperator},
		{"/frost.v1.MemoryService/ReadVirtual", &pb.ReadVirtualRequest{}, RoleReader},
		{"/frost.v1.MemoryService/WritePhysical", &pb.WritePhysicalRequest{}, RoleOperator},
		{"/grpc.health.v1.Health/Check", nil, RoleReader},
	} {
		got, err := roleFor(c.method, c.req)
		if err != nil || got != c.want {
			t.Errorf("roleFor(%s, %T) = %v, %v; want %v", c.method, c.req, got, err, c.want)
		}
	}
	if _, err := roleFor("/frost.v1.MemoryService/Teleport", nil); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a Frost method without a role: %v, want PermissionDenied", err)
	}
}

func unixCaller(uid, gid uint32) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{Addr: &PeerAddr{UID: uid, GID: gid, PID: 7}})
}

func certCaller(cn string, verified bool) context.Context {
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"lab"}}}
	var st tls.ConnectionState
	st.PeerCertificates = []*x509.Certificate{cert}
	if verified {
		st.VerifiedChains = [][]*x509.Certificate{{cert}}
	}
	return peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5}, AuthInfo: credentials.TLSInfo{State: st}})
}

func TestRoleOfCaller(t *testing.T) {
	r := &Roles{OperatorGID: 500, OperatorGroup: "frost-ops", Self: 999, Operators: []string{"alice", "CN=carol,O=lab"},
		groupsOf: func(uid uint32) ([]uint32, error) {
			switch uid {
			case 1001:
				return []uint32{1001, 500}, nil
			case 1003:
				return nil, errors.New("no such user")
			}
			return []uint32{uid}, nil
		}}
	for _, c := range []struct {
		name string
		ctx  context.Context
		want Role
	}{
		{"root", unixCaller(0, 0), RoleOperator},
		{"frostd's own uid", unixCaller(999, 999), RoleOperator},
		{"primary group", unixCaller(1000, 500), RoleOperator},
		{"supplementary group", unixCaller(1001, 1001), RoleOperator},
		{"not in the group", unixCaller(1002, 1002), RoleReader},
		{"unknown user", unixCaller(1003, 1003), RoleReader},
		{"listed CN", certCaller("alice", true), RoleOperator},
		{"listed subject", certCaller("carol", true), RoleOperator},
		{"unlisted CN", certCaller("bob", true), RoleReader},
		// --tcp-insecure-any-client: a certificate nobody verified names nobody.
		{"unverified certificate", certCaller("alice", false), RoleReader},
		{"no peer", context.Background(), RoleReader},
	} {
		if got := r.roleOf(callerOf(c.ctx)); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestRoleDenialEndToEnd: a reader's Pause and held Subscribe are refused
// with PermissionDenied naming the role and the way to it, before any
// handler runs; its unheld Subscribe and reads reach the handler.
func TestRoleDenialEndToEnd(t *testing.T) {
	r := &Roles{OperatorGID: 500, OperatorGroup: "frost-ops", Self: 999,
		groupsOf: func(uint32) ([]uint32, error) { return nil, nil }}
	ru, rs := r.Interceptors()
	who := grpc.UnaryServerInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(unixCaller(1002, 1002), req)
	})
	whoStream := grpc.StreamServerInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, ctxStream{ss, unixCaller(1002, 1002)})
	})
	cc := serveBuf(t, Config{}, grpc.ChainUnaryInterceptor(who, ru), grpc.ChainStreamInterceptor(whoStream, rs))

	_, err := pb.NewCPUServiceClient(cc).Pause(context.Background(), &pb.PauseRequest{Vm: "win"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("reader's Pause: %v, want PermissionDenied", err)
	}
	for _, want := range []string{"Pause needs the operator role", "uid 1002", "group frost-ops"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("denial %q lacks %q", err, want)
		}
	}
	st, err := pb.NewBreakpointServiceClient(cc).Subscribe(context.Background(), &pb.SubscribeRequest{Vm: "win", Hold: true})
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "Subscribe needs the operator role") {
		t.Errorf("reader's held Subscribe: %v, want PermissionDenied", err)
	}
	// Allowed calls reach the handler, which has no such VM.
	st, err = pb.NewBreakpointServiceClient(cc).Subscribe(context.Background(), &pb.SubscribeRequest{Vm: "win"})
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) == codes.PermissionDenied {
		t.Errorf("reader's unheld Subscribe refused: %v", err)
	}
	if _, err := pb.NewMemoryServiceClient(cc).ReadPhysical(context.Background(), &pb.ReadPhysicalRequest{Vm: "win", Length: 8}); status.Code(err) == codes.PermissionDenied {
		t.Errorf("reader's read refused: %v", err)
	}
}

// ctxStream gives a stream another context (a peer the test chose).
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }
