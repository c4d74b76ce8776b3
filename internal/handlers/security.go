package handlers

// Authentication and authorization shared by the APIs (DESIGN.md §5a).
//
// Every handler asks authorize (or one of its helpers) once per resource
// it touches, with the request's session principal and client host, and
// answers Kafka's *_AUTHORIZATION_FAILED code for that resource. With no
// authorizer configured (authorizer.class.name empty) every request is
// allowed, as in Kafka.

import (
	"iter"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/auth"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/sasl"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// NewAuthorizer returns the authorizer the broker config asks for, or nil
// when authorizer.class.name is empty (no authorization).
func NewAuthorizer(cfgValue func(string) string) *auth.Authorizer {
	if cfgValue("authorizer.class.name") == "" {
		return nil
	}
	var supers []string
	for _, s := range strings.Split(cfgValue("super.users"), ";") {
		if s = strings.TrimSpace(s); s != "" {
			supers = append(supers, s)
		}
	}
	return auth.New(supers, cfgValue("allow.everyone.if.no.acl.found") == "true")
}

// principal returns who the request acts for.
func principal(req *server.Request) string {
	if req.Session == nil {
		return server.Anonymous
	}
	return req.Session.Principal
}

// aclHost returns the request's client IP address as ACLs name hosts
// (clientHost without its leading slash).
func aclHost(req *server.Request) string {
	return strings.TrimPrefix(clientHost(req.Remote), "/")
}

// authorize reports whether the request's principal may perform op on the
// named resource.
func (h *Handlers) authorize(req *server.Request, op, resourceType int8, name string) bool {
	if h.d.Authorizer == nil {
		return true
	}
	return h.d.Authorizer.Authorize(h.d.Image().ACLSet(), auth.Request{
		Principal: principal(req), Host: aclHost(req), Op: op, ResourceType: resourceType, Name: name,
	})
}

func (h *Handlers) authorizeCluster(req *server.Request, op int8) bool {
	return h.authorize(req, op, metadata.ACLResourceCluster, metadata.ClusterResourceName)
}

func (h *Handlers) authorizeTopic(req *server.Request, op int8, topic string) bool {
	return h.authorize(req, op, metadata.ACLResourceTopic, topic)
}

func (h *Handlers) authorizeGroup(req *server.Request, op int8, group string) bool {
	return h.authorize(req, op, metadata.ACLResourceGroup, group)
}

// controllerAPIError is what the controller listener's broker-to-
// controller APIs check first (BrokerRegistration, BrokerHeartbeat,
// AlterPartition, AllocateProducerIds): CLUSTER_ACTION on the cluster,
// then a local controller. It returns 0 or an error code.
func (h *Handlers) controllerAPIError(req *server.Request) int16 {
	switch {
	case !h.authorizeCluster(req, metadata.ACLOpClusterAction):
		return kerr.ClusterAuthorizationFailed.Code
	case h.d.Controller == nil:
		return kerr.NotController.Code
	}
	return 0
}

// deniedTopics returns the topics among names (each asked once) on which
// the principal may not perform op; nil when there are none.
func (h *Handlers) deniedTopics(req *server.Request, op int8, names iter.Seq[string]) map[string]bool {
	if h.d.Authorizer == nil {
		return nil
	}
	var denied map[string]bool
	asked := map[string]bool{}
	for n := range names {
		if asked[n] {
			continue
		}
		asked[n] = true
		if !h.authorizeTopic(req, op, n) {
			if denied == nil {
				denied = map[string]bool{}
			}
			denied[n] = true
		}
	}
	return denied
}

// namesOf yields the name of each item.
func namesOf[T any](items []T, name func(T) string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, it := range items {
			if !yield(name(it)) {
				return
			}
		}
	}
}

// splitByName splits items into those whose name is not denied and those
// whose name is (allowed is never nil).
func splitByName[T any](items []T, name func(T) string, denied map[string]bool) (allowed, refused []T) {
	allowed = make([]T, 0, len(items))
	for _, it := range items {
		if denied[name(it)] {
			refused = append(refused, it)
		} else {
			allowed = append(allowed, it)
		}
	}
	return allowed, refused
}

// detached returns a request carrying only what authorization reads (the
// principal and the client address), for authorizing after Handle has
// returned (the session may be re-authenticated meanwhile).
func detached(req *server.Request) *server.Request {
	return &server.Request{Remote: req.Remote, Listener: req.Listener, Session: actingAs(req.Listener, principal(req))}
}

// allTopics marks every name as denied (a request refused as a whole,
// answered per topic).
func allTopics(names iter.Seq[string]) map[string]bool {
	denied := map[string]bool{}
	for n := range names {
		denied[n] = true
	}
	return denied
}

// authorizeCreateTopic reports whether the principal may create the topic:
// CREATE on the cluster or on the topic.
func (h *Handlers) authorizeCreateTopic(req *server.Request, topic string) bool {
	return h.authorizeCluster(req, metadata.ACLOpCreate) || h.authorizeTopic(req, metadata.ACLOpCreate, topic)
}

// configResourceError checks op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a
// config resource as Kafka does: broker, broker-logger and client-metrics
// resources on the cluster (CLUSTER_AUTHORIZATION_FAILED), topics
// (TOPIC_AUTHORIZATION_FAILED) and groups (GROUP_AUTHORIZATION_FAILED) on
// themselves. It returns nil when allowed or for other resource types.
func (h *Handlers) configResourceError(req *server.Request, op int8, typ kmsg.ConfigResourceType, name string) *kerr.Error {
	switch typ {
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger, kmsg.ConfigResourceTypeClientMetrics:
		if !h.authorizeCluster(req, op) {
			return kerr.ClusterAuthorizationFailed
		}
	case kmsg.ConfigResourceTypeTopic:
		if !h.authorizeTopic(req, op, name) {
			return kerr.TopicAuthorizationFailed
		}
	case kmsg.ConfigResourceTypeGroupConfig:
		if !h.authorizeGroup(req, op, name) {
			return kerr.GroupAuthorizationFailed
		}
	}
	return nil
}

// operationsNotRequested is the authorized-operations value of a response
// that was not asked for them (Kafka's Integer.MIN_VALUE).
const operationsNotRequested int32 = math.MinInt32

// authorizableOps lists, per resource type, the operations an
// authorized-operations bitfield reports: Kafka's
// AclEntry.supportedOperations, over the operations Fjord's ACLs may name.
var authorizableOps = map[int8][]int8{
	metadata.ACLResourceTopic: {metadata.ACLOpRead, metadata.ACLOpWrite, metadata.ACLOpCreate, metadata.ACLOpDelete,
		metadata.ACLOpAlter, metadata.ACLOpDescribe, metadata.ACLOpDescribeConfigs, metadata.ACLOpAlterConfigs},
	metadata.ACLResourceGroup: {metadata.ACLOpRead, metadata.ACLOpDescribe, metadata.ACLOpDelete},
	metadata.ACLResourceCluster: {metadata.ACLOpCreate, metadata.ACLOpClusterAction, metadata.ACLOpDescribeConfigs,
		metadata.ACLOpAlterConfigs, metadata.ACLOpIdempotentWrite, metadata.ACLOpAlter, metadata.ACLOpDescribe},
	metadata.ACLResourceTransactionalID: {metadata.ACLOpDescribe, metadata.ACLOpWrite},
}

// authorizedOperations returns Kafka's bitfield of the operations the
// principal may perform on the resource: bit i set for each allowed
// operation of code i.
func (h *Handlers) authorizedOperations(req *server.Request, resourceType int8, name string) int32 {
	var bits int32
	for _, op := range authorizableOps[resourceType] {
		if h.authorize(req, op, resourceType, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// clusterAuthorizedOperations is the ClusterAuthorizedOperations of
// Metadata and DescribeCluster: operationsNotRequested unless include, 0
// without DESCRIBE on the cluster, else the cluster's bitfield.
func (h *Handlers) clusterAuthorizedOperations(req *server.Request, include bool) int32 {
	switch {
	case !include:
		return operationsNotRequested
	case !h.authorizeCluster(req, metadata.ACLOpDescribe):
		return 0
	}
	return h.authorizedOperations(req, metadata.ACLResourceCluster, metadata.ClusterResourceName)
}

// authorizeAnyTopic reports whether the principal may perform op on at
// least one topic (Kafka's authorizeByResourceType).
func (h *Handlers) authorizeAnyTopic(req *server.Request, op int8) bool {
	if h.d.Authorizer == nil {
		return true
	}
	return h.d.Authorizer.AuthorizeByResourceType(h.d.Image().ACLSet(), auth.Request{
		Principal: principal(req), Host: aclHost(req), Op: op, ResourceType: metadata.ACLResourceTopic,
	})
}

// listenerSASL is a listener's SASL setup, read once from the config.
type listenerSASL struct {
	mechanisms []string
	plainUsers map[string]string
	reauth     time.Duration // connections.max.reauth.ms; 0: never
}

// saslConfigs caches listenerSASL per listener name (the config is
// immutable).
type saslConfigs struct{ m sync.Map }

func (h *Handlers) saslFor(listener string) *listenerSASL {
	if v, ok := h.sasl.m.Load(listener); ok {
		return v.(*listenerSASL)
	}
	l := &listenerSASL{}
	cfg := h.d.Config
	for _, m := range strings.Split(cfg.ForListener(listener, "sasl.enabled.mechanisms"), ",") {
		if m = strings.TrimSpace(m); m != "" {
			l.mechanisms = append(l.mechanisms, m)
		}
	}
	if j, err := sasl.ParseJAAS(cfg.JAAS(listener, sasl.Plain)); err == nil {
		l.plainUsers = j.PlainUsers()
	}
	if ms := cfg.ForListener(listener, "connections.max.reauth.ms"); ms != "" && ms != "0" {
		if d, err := time.ParseDuration(ms + "ms"); err == nil {
			l.reauth = d
		}
	}
	v, _ := h.sasl.m.LoadOrStore(listener, l)
	return v.(*listenerSASL)
}

// scramLookup finds stored SCRAM credentials in the current image.
func (h *Handlers) scramLookup(user, mechanism string) (sasl.Credential, bool) {
	c, ok := h.d.Image().ScramCredential(user, sasl.MechanismID(mechanism))
	if !ok {
		return sasl.Credential{}, false
	}
	return sasl.Credential{Salt: c.Salt, Iterations: int(c.Iterations), StoredKey: c.StoredKey, ServerKey: c.ServerKey}, true
}
