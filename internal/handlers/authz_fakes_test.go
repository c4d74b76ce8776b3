package handlers

// Fakes and helpers of the authorization tests (authz_*_test.go): a node
// with a real auth.Authorizer over a metadata image holding ACLs, and
// services that answer without error, so that a response's error codes
// come from authorization or from the absent replicas only.

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/auth"
	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/coordinator"
	"github.com/fjordlog/fjord/internal/group"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The principals of the tests: alice is given the ACLs under test, bob
// only the others; admin is a super user.
const (
	alice = "User:alice"
	bob   = "User:bob"
	admin = "User:admin"
)

// testTopicIDs are the ids of the topics of authzImage.
var testTopicIDs = map[string]metadata.UUID{"t": {1}, "secret": {2}, "other": {3}}

// grant is an ALLOW ACL for the principal the test fills in.
func grant(typ int8, name string, op int8) metadata.ACL {
	return metadata.ACL{ResourceType: typ, ResourceName: name, PatternType: metadata.ACLPatternLiteral,
		Host: "*", Operation: op, Permission: metadata.ACLPermissionAllow}
}

func topicGrant(name string, op int8) metadata.ACL { return grant(metadata.ACLResourceTopic, name, op) }
func groupGrant(name string, op int8) metadata.ACL { return grant(metadata.ACLResourceGroup, name, op) }
func clusterGrant(op int8) metadata.ACL {
	return grant(metadata.ACLResourceCluster, metadata.ClusterResourceName, op)
}
func txnGrant(name string, op int8) metadata.ACL {
	return grant(metadata.ACLResourceTransactionalID, name, op)
}

// deny turns an ACL into a DENY.
func deny(a metadata.ACL) metadata.ACL { a.Permission = metadata.ACLPermissionDeny; return a }

// prefixed turns an ACL into a PREFIXED one.
func prefixed(a metadata.ACL) metadata.ACL { a.PatternType = metadata.ACLPatternPrefixed; return a }

// forPrincipal binds the ACLs to principal.
func forPrincipal(principal string, acls ...metadata.ACL) []metadata.ACL {
	out := slices.Clone(acls)
	for i := range out {
		out[i].Principal = principal
	}
	return out
}

// authzImage has broker 1 (listener "X") and topics t, secret and other
// of one partition each led by broker 1, and the ACLs.
func authzImage(t *testing.T, acls []metadata.ACL) *metadata.Image {
	t.Helper()
	recs := []metadata.Record{
		metadata.ClusterID{ID: "cluster"},
		metadata.RegisterBroker{ID: 1, Endpoints: []metadata.Endpoint{{Name: "X", Host: "localhost", Port: 9092}}},
	}
	for _, name := range []string{"t", "secret", "other"} {
		id := testTopicIDs[name]
		recs = append(recs, metadata.Topic{Name: name, ID: id},
			metadata.Partition{TopicID: id, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1})
	}
	for i, a := range acls {
		recs = append(recs, metadata.AccessControlEntry{ID: metadata.UUID{0xac, byte(i >> 8), byte(i)}, ACL: a})
	}
	img, _, err := metadata.Empty().Apply(1, recs)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// authzNode is a node's handlers with a real authorizer (super user
// admin, allow.everyone.if.no.acl.found false) over authzImage.
type authzNode struct {
	client, ctrl *Handlers
	controller   *fakeController
	groups       *fakeGroups
}

func newAuthzNode(t *testing.T, acls []metadata.ACL) *authzNode {
	t.Helper()
	img := authzImage(t, acls)
	cfg, err := config.NewBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	n := &authzNode{controller: &fakeController{}, groups: &fakeGroups{}}
	d := Deps{
		NodeID: 1, Config: cfg, Image: func() *metadata.Image { return img }, Partitions: noReplicas{},
		Controller: n.controller, ProducerIDs: fakePIDs{}, Groups: n.groups, MetadataLog: fakeMetadataLog{},
		Authorizer: auth.New([]string{admin}, false), Logger: slog.New(slog.DiscardHandler),
	}
	n.client, n.ctrl = New(d), NewController(d)
	return n
}

// call serves body as principal on the client listener (or the controller
// listener) and returns the response, waiting for a delayed one.
func (n *authzNode) call(t *testing.T, principal string, ctrl bool, body kmsg.Request) kmsg.Response {
	t.Helper()
	h := n.client
	if ctrl {
		h = n.ctrl
	}
	s := &server.Session{Listener: "X"}
	s.SetAuthenticated(principal, time.Time{})
	reply := h.Handle(context.Background(), &server.Request{Body: body, Listener: "X", Session: s})
	wait := delayed(reply)
	if wait == nil {
		if reply.Response == nil {
			t.Fatalf("%s: no response (close %v)", kmsg.NameForKey(body.Key()), reply.Close)
		}
		return reply.Response
	}
	select {
	case resp, ok := <-wait:
		if !ok || resp == nil {
			t.Fatalf("%s: no delayed response", kmsg.NameForKey(body.Key()))
		}
		return resp
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no response in time", kmsg.NameForKey(body.Key()))
	}
	return nil
}

// delayed is the channel a reply's delayed response comes on: Wait, or
// Later run on a goroutine as the server's writer would; nil for an
// immediate reply.
func delayed(reply server.Reply) <-chan kmsg.Response {
	if reply.Later == nil {
		return reply.Wait
	}
	ch := make(chan kmsg.Response, 1)
	go func() { ch <- reply.Later() }()
	return ch
}

// fakeController answers every change with success and records the topics
// it was asked to create, delete or grow.
type fakeController struct {
	mu      sync.Mutex
	touched []string
}

func (c *fakeController) touch(names ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.touched = append(c.touched, names...)
}

// Touched returns the topics sent to the controller so far.
func (c *fakeController) Touched() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.touched)
}

func (c *fakeController) CreateTopics(_ context.Context, reqs []controller.CreateTopic) ([]controller.TopicResult, error) {
	out := make([]controller.TopicResult, len(reqs))
	for i, r := range reqs {
		c.touch(r.Name)
		out[i] = controller.TopicResult{Name: r.Name, ID: metadata.UUID{9, byte(i)}, NumPartitions: 1, ReplicationFactor: 1}
	}
	return out, nil
}

func (c *fakeController) DeleteTopics(_ context.Context, names []string) ([]controller.TopicResult, error) {
	c.touch(names...)
	out := make([]controller.TopicResult, len(names))
	for i, n := range names {
		out[i] = controller.TopicResult{Name: n, ID: testTopicIDs[n]}
	}
	return out, nil
}

func (c *fakeController) CreatePartitions(_ context.Context, reqs []controller.CreatePartitions) ([]controller.TopicResult, error) {
	out := make([]controller.TopicResult, len(reqs))
	for i, r := range reqs {
		c.touch(r.Name)
		out[i] = controller.TopicResult{Name: r.Name}
	}
	return out, nil
}

func (c *fakeController) AlterConfigs(_ context.Context, reqs []controller.AlterConfigs) ([]error, error) {
	for _, r := range reqs {
		c.touch(r.ResourceName)
	}
	return make([]error, len(reqs)), nil
}

func (c *fakeController) ElectLeaders(context.Context, int8, []controller.TopicPartition) ([]controller.ElectResult, error) {
	return nil, nil
}

func (c *fakeController) AlterPartitionReassignments(_ context.Context, items []controller.Reassignment) ([]error, error) {
	return make([]error, len(items)), nil
}

func (c *fakeController) UnregisterBroker(context.Context, int32) error { return nil }

func (c *fakeController) ListPartitionReassignments(context.Context, []controller.TopicPartition) ([]controller.ReassignmentStatus, error) {
	return nil, nil
}

func (c *fakeController) CreateACLs(context.Context, []metadata.ACL) error { return nil }

func (c *fakeController) DeleteACLs(context.Context, []metadata.UUID) ([]metadata.UUID, error) {
	return nil, nil
}

func (c *fakeController) AlterScram(_ context.Context, changes []controller.ScramChange) ([]error, error) {
	return make([]error, len(changes)), nil
}

func (c *fakeController) RegisterBroker(context.Context, controller.Registration) (int64, error) {
	return 1, nil
}

func (c *fakeController) BrokerHeartbeat(context.Context, controller.Heartbeat) (controller.HeartbeatResult, error) {
	return controller.HeartbeatResult{}, nil
}

func (c *fakeController) AlterPartition(_ context.Context, _ int32, _ int64, items []controller.AlterPartitionItem) ([]controller.AlterPartitionResult, error) {
	return make([]controller.AlterPartitionResult, len(items)), nil
}

func (c *fakeController) AllocateProducerIDs(context.Context, int32, int64) (int64, int32, error) {
	return 1000, 1000, nil
}

func (c *fakeController) IsActive() bool       { return true }
func (c *fakeController) ActiveID() int32      { return 1 }
func (c *fakeController) AppliedOffset() int64 { return 0 }

// fakeGroups coordinates every group: requests are answered without error;
// an OffsetFetch of every offset answers committed offsets of topics t and
// secret; ListGroups lists groups g and secret-group.
type fakeGroups struct {
	mu   sync.Mutex
	last kmsg.Request
}

// Last returns the last request a coordinator served.
func (f *fakeGroups) Last() kmsg.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *fakeGroups) Do(_ context.Context, _ string, _ group.Client, req kmsg.Request) (kmsg.Response, error) {
	f.mu.Lock()
	f.last = req
	f.mu.Unlock()
	if r, ok := req.(*kmsg.OffsetFetchRequest); ok {
		return committedOffsets(r), nil
	}
	return coordinator.ErrorResponse(req, 0), nil
}

func (f *fakeGroups) CompleteTxn(context.Context, int32, record.Marker) (int16, error) { return 0, nil }

func (f *fakeGroups) All(_ context.Context, req kmsg.Request) ([]kmsg.Response, error) {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.SetVersion(req.GetVersion())
	for _, g := range []string{"g", "secret-group"} {
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = g
		resp.Groups = append(resp.Groups, lg)
	}
	return []kmsg.Response{resp}, nil
}

// committedOffsets answers offset 5 for every partition asked, and for a
// fetch of every offset partition 0 of topics t and secret.
func committedOffsets(r *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.SetVersion(r.Version)
	committed := map[string][]int32{"t": {0}, "secret": {0}}
	topics := func(asked map[string][]int32) []string {
		if asked == nil {
			asked = committed
		}
		return slices.Sorted(func(yield func(string) bool) {
			for k := range asked {
				if !yield(k) {
					return
				}
			}
		})
	}
	if r.Version < 8 {
		asked := map[string][]int32(nil)
		if r.Topics != nil {
			asked = map[string][]int32{}
			for _, t := range r.Topics {
				asked[t.Topic] = t.Partitions
			}
		}
		for _, name := range topics(asked) {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = name
			for _, p := range committedOr(asked, committed, name) {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset = p, 5
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, g := range r.Groups {
		rg := kmsg.NewOffsetFetchResponseGroup()
		rg.Group = g.Group
		asked := map[string][]int32(nil)
		if g.Topics != nil {
			asked = map[string][]int32{}
			for _, t := range g.Topics {
				asked[t.Topic] = t.Partitions
			}
		}
		for _, name := range topics(asked) {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = name
			for _, p := range committedOr(asked, committed, name) {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset = p, 5
				rt.Partitions = append(rt.Partitions, rp)
			}
			rg.Topics = append(rg.Topics, rt)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func committedOr(asked, committed map[string][]int32, name string) []int32 {
	if asked == nil {
		return committed[name]
	}
	return asked[name]
}

type fakePIDs struct{}

func (fakePIDs) NextProducerID(context.Context) (int64, error) { return 1000, nil }

type fakeMetadataLog struct{}

func (fakeMetadataLog) ReadMetadata(context.Context, uint64, int, time.Duration) (MetadataChunk, error) {
	return MetadataChunk{}, nil
}

func (fakeMetadataLog) Applied() uint64 { return 1 }

// fetchOf returns a Fetch answer as a plain kmsg response, its records
// read from their files.
func fetchOf(r kmsg.Response) *kmsg.FetchResponse {
	switch f := r.(type) {
	case *kmsg.FetchResponse:
		return f
	case *server.FetchResponse:
		plain, err := f.Materialize()
		if err != nil {
			panic(err)
		}
		return plain
	}
	panic(fmt.Sprintf("not a fetch response: %T", r))
}
