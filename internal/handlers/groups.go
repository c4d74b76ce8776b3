package handlers

// Shared plumbing of the group APIs (JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups,
// DeleteGroups, OffsetDelete): each request, or each group of a batched
// one, is served by this broker's coordinator for the group's
// __consumer_offsets partition, asynchronously (JoinGroup waits for the
// rebalance). Groups coordinated elsewhere get NOT_COORDINATOR.

import (
	"context"
	"errors"
	"net"

	"github.com/fjordlog/fjord/internal/coordinator"
	"github.com/fjordlog/fjord/internal/group"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Groups serves group requests on this broker's coordinators.
type Groups interface {
	// Do serves a single-group request; coordinator.ErrNotCoordinator (a
	// *kerr.Error) when this broker does not coordinate the group.
	Do(ctx context.Context, groupID string, client group.Client, req kmsg.Request) (kmsg.Response, error)
	// All serves the request on every local coordinator (ListGroups).
	All(ctx context.Context, req kmsg.Request) ([]kmsg.Response, error)
	// CompleteTxn writes a transaction marker to __consumer_offsets
	// partition idx through its coordinator, committing or dropping the
	// producer's pending offsets, and returns the marker's Kafka error
	// code once it is durable (NOT_LEADER_OR_FOLLOWER when this broker
	// does not coordinate the partition); err is only ctx's.
	CompleteTxn(ctx context.Context, idx int32, m record.Marker) (int16, error)
}

// groupAsync runs fn off the connection's goroutine and replies with its
// response.
func groupAsync(fn func() kmsg.Response) server.Reply {
	ch := make(chan kmsg.Response, 1)
	go func() { ch <- fn() }()
	return server.Reply{Wait: ch}
}

// serveGroup serves a single-group request, answering errors in the
// request's own response shape.
func (h *Handlers) serveGroup(ctx context.Context, req *server.Request, groupID string) server.Reply {
	return h.serveGroupBody(ctx, req, groupID, cloneRequest(req.Body), nil)
}

// serveAuthorizedGroup serves a single-group request if the principal may
// perform op on the group, else answers GROUP_AUTHORIZATION_FAILED.
func (h *Handlers) serveAuthorizedGroup(ctx context.Context, req *server.Request, op int8, groupID string) server.Reply {
	if !h.authorizeGroup(req, op, groupID) {
		return groupRefused(req)
	}
	return h.serveGroup(ctx, req, groupID)
}

// groupRefused answers GROUP_AUTHORIZATION_FAILED in the request's own
// response shape (on every item of the batched ones).
func groupRefused(req *server.Request) server.Reply {
	return server.Reply{Response: coordinator.ErrorResponse(req.Body, kerr.GroupAuthorizationFailed.Code)}
}

// readableTopics describes the topic list of a single-group request whose
// partitions the principal must be able to READ (OffsetCommit,
// OffsetDelete): topics reaches the list in a request, name names an item,
// empty makes an empty response, refuse adds TOPIC_AUTHORIZATION_FAILED
// answers for the refused items.
type readableTopics[T any] struct {
	topics func(kmsg.Request) *[]T
	name   func(T) string
	empty  func() kmsg.Response
	refuse func(resp kmsg.Response, refused []T)
}

// serveReadable serves a single-group request on the group's coordinator
// with only the topics the principal may READ; the others are answered
// TOPIC_AUTHORIZATION_FAILED without reaching the coordinator.
func serveReadable[T any](h *Handlers, ctx context.Context, req *server.Request, groupID string, f readableTopics[T]) server.Reply {
	denied := h.deniedTopics(req, metadata.ACLOpRead, namesOf(*f.topics(req.Body), f.name))
	if len(denied) == 0 {
		return h.serveGroup(ctx, req, groupID)
	}
	body := cloneRequest(req.Body)
	var refused []T
	*f.topics(body), refused = splitByName(*f.topics(body), f.name, denied)
	addRefused := func(resp kmsg.Response) { f.refuse(resp, refused) }
	if len(*f.topics(body)) == 0 {
		resp := f.empty()
		addRefused(resp)
		return respond(req, resp)
	}
	return h.serveGroupBody(ctx, req, groupID, body, addRefused)
}

// serveGroupBody serves body, a single-group request that does not alias
// the frame (see cloneRequest), on the group's coordinator; finish, if
// set, amends the response before it is sent.
func (h *Handlers) serveGroupBody(ctx context.Context, req *server.Request, groupID string, body kmsg.Request, finish func(kmsg.Response)) server.Reply {
	client := group.Client{ID: req.ClientID, Host: clientHost(req.Remote)}
	return groupAsync(func() kmsg.Response {
		resp := h.doGroup(ctx, groupID, client, body)
		if finish != nil {
			finish(resp)
		}
		return resp
	})
}

// cloneRequest deep-copies a decoded request. The byte fields of a request
// alias the server's frame buffer, which is reused once Handle returns; a
// request served asynchronously whose bytes outlive Handle (member
// metadata, assignments the coordinator keeps) must be copied first.
func cloneRequest(req kmsg.Request) kmsg.Request {
	c := kmsg.RequestForKey(req.Key())
	c.SetVersion(req.GetVersion())
	if err := c.ReadFrom(req.AppendTo(nil)); err != nil {
		return req // cannot happen: it decoded once already
	}
	return c
}

func (h *Handlers) doGroup(ctx context.Context, groupID string, client group.Client, body kmsg.Request) kmsg.Response {
	if h.d.Groups == nil {
		return coordinator.ErrorResponse(body, kerr.CoordinatorNotAvailable.Code)
	}
	resp, err := h.d.Groups.Do(ctx, groupID, client, body)
	if err != nil {
		return coordinator.ErrorResponse(body, groupErrorCode(err))
	}
	return resp
}

func groupErrorCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}

// clientHost renders the peer like Kafka does ("/127.0.0.1").
func clientHost(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "/" + addr.String()
	}
	return "/" + host
}

// perGroup serves a batched request (DescribeGroups, DeleteGroups,
// OffsetFetch v8+) one group at a time, each on its coordinator: single
// builds the one-group request for a group, merge folds its response into
// the batched one, which resp starts as.
func (h *Handlers) perGroup(ctx context.Context, req *server.Request, groups []string, resp kmsg.Response,
	single func(g string) kmsg.Request, merge func(kmsg.Response)) server.Reply {
	client := group.Client{ID: req.ClientID, Host: clientHost(req.Remote)}
	reqs := make([]kmsg.Request, len(groups))
	for i, g := range groups {
		reqs[i] = cloneRequest(single(g)) // the bytes must not outlive Handle
	}
	resp.SetVersion(req.Body.GetVersion())
	return groupAsync(func() kmsg.Response {
		for i, g := range groups {
			merge(h.doGroup(ctx, g, client, reqs[i]))
		}
		return resp
	})
}
