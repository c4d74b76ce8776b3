// Package ctlclient is a node's client of the active controller: it sends
// BrokerRegistration, BrokerHeartbeat and forwarded admin requests
// (Envelope) to the controller listener of whichever voter currently leads
// the metadata quorum, over the Kafka protocol.
package ctlclient

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrNoController is returned while no active controller is known.
var ErrNoController = errors.New("ctlclient: no active controller known")

// Client reaches the active controller. It is safe for concurrent use.
type Client struct {
	addr     func(id int32) (string, bool) // a controller's listener address
	leader   func() int32
	clientID string
	opts     []kgo.Opt // security options for the controller listener

	mu      sync.Mutex
	clients map[string]*kgo.Client
}

// New returns a client. voters maps controller node ids to their
// controller listener addresses; leader reports the active controller's id;
// opts secure the connections (TLS, SASL) as the controller listener needs.
func New(voters map[int32]string, leader func() int32, clientID string, opts ...kgo.Opt) *Client {
	return NewLookup(func(id int32) (string, bool) { a, ok := voters[id]; return a, ok }, leader, clientID, opts...)
}

// NewLookup is New with each controller's address looked up when a
// request goes to it (the quorum's voters change); addr must be safe for
// concurrent use.
func NewLookup(addr func(id int32) (string, bool), leader func() int32, clientID string, opts ...kgo.Opt) *Client {
	return &Client{addr: addr, leader: leader, clientID: clientID, opts: opts, clients: map[string]*kgo.Client{}}
}

// send issues req to the active controller.
func (c *Client) send(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	id := c.leader()
	addr, ok := c.addr(id)
	if !ok {
		return nil, ErrNoController
	}
	return c.sendTo(ctx, addr, req)
}

func (c *Client) client(addr string) (*kgo.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[addr]; ok {
		return cl, nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID(c.clientID)}, c.opts...)...)
	if err != nil {
		return nil, err
	}
	c.clients[addr] = cl
	return cl, nil
}

// Close closes every connection.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.clients {
		cl.Close()
	}
	c.clients = map[string]*kgo.Client{}
}

// Forward sends a forwarded admin request.
func (c *Client) Forward(ctx context.Context, req *kmsg.EnvelopeRequest) (*kmsg.EnvelopeResponse, error) {
	resp, err := c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.EnvelopeResponse), nil
}

// Register registers this broker and returns its epoch.
func (c *Client) Register(ctx context.Context, clusterID string, incarnation metadata.UUID, r controller.Registration) (int64, error) {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.ClusterID, req.IncarnationID = r.ID, clusterID, incarnation
	req.PreviousBrokerEpoch = 0
	if r.UncleanShutdown {
		req.PreviousBrokerEpoch = -1
	}
	if r.Rack != "" {
		req.Rack = &r.Rack
	}
	for _, e := range r.Endpoints {
		l := kmsg.NewBrokerRegistrationRequestListener()
		l.Name, l.Host, l.Port = e.Name, e.Host, uint16(e.Port)
		req.Listeners = append(req.Listeners, l)
	}
	resp, err := c.send(ctx, req)
	if err != nil {
		return 0, err
	}
	r2 := resp.(*kmsg.BrokerRegistrationResponse)
	return r2.BrokerEpoch, kerr.ErrorForCode(r2.ErrorCode)
}

// Heartbeat sends one heartbeat.
func (c *Client) Heartbeat(ctx context.Context, h controller.Heartbeat) (controller.HeartbeatResult, error) {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset = h.ID, h.Epoch, h.MetadataOffset
	req.WantFence, req.WantShutdown = h.WantFence, h.WantShutDown
	resp, err := c.send(ctx, req)
	if err != nil {
		return controller.HeartbeatResult{}, err
	}
	r := resp.(*kmsg.BrokerHeartbeatResponse)
	return controller.HeartbeatResult{IsCaughtUp: r.IsCaughtUp, IsFenced: r.IsFenced, ShouldShutDown: r.ShouldShutdown},
		kerr.ErrorForCode(r.ErrorCode)
}

// AlterPartition proposes ISR changes of partitions this broker leads.
// A request-level error is returned as err; per-partition errors are in
// the results, in item order.
func (c *Client) AlterPartition(ctx context.Context, broker int32, epoch int64, items []controller.AlterPartitionItem) ([]controller.AlterPartitionResult, error) {
	req := kmsg.NewPtrAlterPartitionRequest()
	req.BrokerID, req.BrokerEpoch = broker, epoch
	for _, it := range items {
		t := kmsg.NewAlterPartitionRequestTopic()
		t.TopicID = it.TopicID
		p := kmsg.NewAlterPartitionRequestTopicPartition()
		p.Partition, p.LeaderEpoch, p.PartitionEpoch, p.NewISR = it.Partition, it.LeaderEpoch, it.PartitionEpoch, it.ISR
		for _, id := range it.ISR {
			m := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
			m.BrokerID, m.BrokerEpoch = id, -1
			p.NewEpochISR = append(p.NewEpochISR, m)
		}
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
	}
	resp, err := c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	r := resp.(*kmsg.AlterPartitionResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return nil, err
	}
	var out []controller.AlterPartitionResult
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			out = append(out, controller.AlterPartitionResult{
				Err: kerr.ErrorForCode(p.ErrorCode), Leader: p.LeaderID, LeaderEpoch: p.LeaderEpoch,
				PartitionEpoch: p.PartitionEpoch, ISR: p.ISR,
			})
		}
	}
	if len(out) != len(items) {
		return nil, fmt.Errorf("ctlclient: AlterPartition answered %d partitions for %d", len(out), len(items))
	}
	return out, nil
}

// AllocateProducerIDs asks for a block of producer ids.
func (c *Client) AllocateProducerIDs(ctx context.Context, broker int32, epoch int64) (int64, int32, error) {
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID, req.BrokerEpoch = broker, epoch
	resp, err := c.send(ctx, req)
	if err != nil {
		return 0, 0, err
	}
	r := resp.(*kmsg.AllocateProducerIDsResponse)
	return r.ProducerIDStart, r.ProducerIDLen, kerr.ErrorForCode(r.ErrorCode)
}
