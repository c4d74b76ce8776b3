package handlers

// AddRaftVoter (key 80), versions 0-1, on the controller listener and the
// client listeners (KIP-853).
//
// Adds a controller to the metadata quorum's voters: the quorum leader
// adds it as a learner (it then receives the metadata log at the
// endpoint given), waits until its log has caught up, and promotes it to
// voter; the answer comes once the promotion is committed. The new
// controller must be running (a node not among controller.quorum.voters
// starts empty and waits to be added). The request's listener named like
// this node's controller listener (the first of controller.listener.names)
// is where the quorum reaches the new voter; none is INVALID_REQUEST.
//
// On the client listeners it is an admin request: a node whose controller
// is not active forwards it (forward.go), as Kafka's brokers do. A
// controller that does not lead the quorum answers NOT_LEADER_OR_FOLLOWER.
// Errors as Kafka's: DUPLICATE_VOTER (already a voter), REQUEST_TIMED_OUT
// (the leader is new, another change is in progress, or the new voter did
// not catch up within TimeoutMillis: it then stays a learner and a retry
// continues), INCONSISTENT_CLUSTER_ID (ClusterID given and not this
// cluster's). Authorization: ALTER on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED.
//
// Not implemented: directory ids (VoterDirectoryID is ignored; Fjord
// keys voters by node id alone), kraft.version checks (every Fjord
// controller supports reconfiguration), and v1's AckWhenCommitted=false
// (the answer always waits for the commit).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// QuorumVoters changes the metadata quorum's voters. On controller nodes
// Deps.Quorum implements it too (the handlers type-assert it). Each
// method acts only on the quorum leader. Errors wrap a *kerr.Error with
// Kafka's code: NOT_LEADER_OR_FOLLOWER (not the leader), DUPLICATE_VOTER,
// VOTER_NOT_FOUND, REQUEST_TIMED_OUT (retriable: leader not ready,
// change in progress, not caught up, leadership lost), INVALID_REQUEST.
// Safe for concurrent use.
type QuorumVoters interface {
	// AddVoter makes node, reachable at endpoint (host:port of its
	// controller listener), a voter, returning once that is committed.
	AddVoter(ctx context.Context, node int32, endpoint string) error
	// RemoveVoter removes node from the voters (or learners).
	RemoveVoter(ctx context.Context, node int32) error
	// UpdateVoter records endpoint as node's controller listener.
	UpdateVoter(ctx context.Context, node int32, endpoint string) error
}

// defaultVoterTimeout bounds AddRaftVoter without a timeout, and every
// voter change: below forwardTimeout, so a forwarded one is answered.
const defaultVoterTimeout = 15 * time.Second

func (h *Handlers) addRaftVoter(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.AddRaftVoterRequest)
	resp := kmsg.NewPtrAddRaftVoterResponse()
	qv, err := h.voterChange(req, r.ClusterID, metadata.ACLOpAlter)
	var endpoint string
	if err == nil {
		ls := make([]voterListener, 0, len(r.Listeners))
		for _, l := range r.Listeners {
			ls = append(ls, voterListener{l.Name, l.Host, l.Port})
		}
		endpoint, err = h.voterEndpoint(ls)
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, voterTimeout(r.TimeoutMillis))
		defer cancel()
		err = qv.AddVoter(ctx, r.VoterID, endpoint)
	}
	resp.ErrorCode, resp.ErrorMessage = voterError(err)
	return respond(req, resp)
}

// voterChange checks what the voter changes share: op on the cluster,
// the cluster id if given, and a quorum on this node.
func (h *Handlers) voterChange(req *server.Request, clusterID *string, op int8) (QuorumVoters, error) {
	if !h.authorizeCluster(req, op) {
		return nil, kerr.ClusterAuthorizationFailed
	}
	if clusterID != nil && h.d.Image != nil {
		if id := h.d.Image().ClusterID; id != "" && id != *clusterID {
			return nil, fmt.Errorf("%w: cluster %q, not %q", kerr.InconsistentClusterID, id, *clusterID)
		}
	}
	qv, ok := h.d.Quorum.(QuorumVoters)
	if !ok {
		return nil, fmt.Errorf("%w: this node is not a controller", kerr.NotLeaderForPartition)
	}
	return qv, nil
}

// voterListener is one listener of a voter change request.
type voterListener struct {
	name, host string
	port       uint16
}

// voterEndpoint picks, from a request's listeners, the one named like
// this node's controller listener, as host:port.
func (h *Handlers) voterEndpoint(listeners []voterListener) (string, error) {
	want := h.controllerListenerName()
	var names []string
	for _, l := range listeners {
		if strings.EqualFold(l.name, want) && l.host != "" && l.port != 0 {
			return net.JoinHostPort(l.host, strconv.Itoa(int(l.port))), nil
		}
		names = append(names, l.name)
	}
	return "", fmt.Errorf("%w: no usable listener %s among %v", kerr.InvalidRequest, want, names)
}

// controllerListenerName is the controller listener's name: the first of
// controller.listener.names.
func (h *Handlers) controllerListenerName() string {
	if h.d.Config != nil {
		if names := h.d.Config.List("controller.listener.names"); len(names) > 0 {
			return names[0]
		}
	}
	return "CONTROLLER"
}

func voterTimeout(ms int32) time.Duration {
	if ms <= 0 {
		return defaultVoterTimeout
	}
	return min(time.Duration(ms)*time.Millisecond, forwardTimeout-5*time.Second)
}

// voterError is err's Kafka code and message: the *kerr.Error it wraps,
// REQUEST_TIMED_OUT for an ended context, else UNKNOWN_SERVER_ERROR.
func voterError(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	msg := err.Error()
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Code, &msg
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code, &msg
	}
	return kerr.UnknownServerError.Code, &msg
}
