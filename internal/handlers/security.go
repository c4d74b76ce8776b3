package handlers

// Authentication and authorization shared by the APIs (DESIGN.md §5a).
//
// Every handler asks authorize (or one of its helpers) once per resource
// it touches, with the request's session principal and client host, and
// answers Kafka's *_AUTHORIZATION_FAILED code for that resource. With no
// authorizer configured (authorizer.class.name empty) every request is
// allowed, as in Kafka.

import (
	"strings"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/auth"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/sasl"
	"github.com/fjordlog/fjord/internal/server"
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
