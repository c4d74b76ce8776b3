package handlers

import (
	"context"
	"slices"
	"testing"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// listenerRegistries are the version tables with the constructor that
// serves each.
func listenerRegistries() []struct {
	name string
	reg  map[kmsg.Key]api
	new  func(Deps) *Handlers
} {
	return []struct {
		name string
		reg  map[kmsg.Key]api
		new  func(Deps) *Handlers
	}{
		{"client", registry, New},
		{"controller", controllerRegistry, NewController},
	}
}

// Every registered API has a handler, a sane version range within what
// kmsg (and so franz-go) can encode, and request/response types.
func TestRegistryVersionsWithinKmsg(t *testing.T) {
	for _, r := range listenerRegistries() {
		t.Run(r.name, func(t *testing.T) { checkRegistry(t, r.reg) })
	}
}

func checkRegistry(t *testing.T, reg map[kmsg.Key]api) {
	if len(reg) == 0 {
		t.Fatal("empty registry")
	}
	for k, a := range reg {
		name := kmsg.NameForKey(int16(k))
		if a.serve == nil {
			t.Errorf("%s: no handler", name)
		}
		if a.min < 0 || a.min > a.max {
			t.Errorf("%s: versions %d-%d", name, a.min, a.max)
		}
		req := kmsg.RequestForKey(int16(k))
		if req == nil || kmsg.ResponseForKey(int16(k)) == nil {
			t.Errorf("key %d unknown to kmsg", k)
			continue
		}
		if a.max > req.MaxVersion() {
			t.Errorf("%s: max version %d above kmsg's %d", name, a.max, req.MaxVersion())
		}
	}
	// ApiVersions v0 must be supported: it is how clients (and the KIP-511
	// answer) start.
	if a, ok := reg[kmsg.ApiVersions]; !ok || a.min != 0 {
		t.Errorf("ApiVersions v0 not supported: %+v", a)
	}
}

func TestSupportedFollowsRegistry(t *testing.T) {
	for _, r := range listenerRegistries() {
		t.Run(r.name, func(t *testing.T) { checkSupported(t, r.new(Deps{}), r.reg) })
	}
}

func checkSupported(t *testing.T, h *Handlers, reg map[kmsg.Key]api) {
	for k, a := range reg {
		key := int16(k)
		for v := a.min - 2; v <= a.max+2; v++ {
			want := v >= a.min && v <= a.max
			if got := h.Supported(key, v); got != want {
				t.Errorf("Supported(%s, %d) = %v, want %v", kmsg.NameForKey(key), v, got, want)
			}
		}
		if h.Supported(key, 99) || h.Supported(key, -1) {
			t.Errorf("%s: version 99 or -1 supported", kmsg.NameForKey(key))
		}
	}
	for _, key := range []int16{-1, 999, 32767, int16(kmsg.JoinGroup), int16(kmsg.InitProducerID)} {
		if _, ok := reg[kmsg.Key(key)]; ok {
			continue
		}
		for v := int16(0); v < 20; v++ {
			if h.Supported(key, v) {
				t.Errorf("Supported(%d, %d) for an unregistered key", key, v)
			}
		}
	}
}

// ApiVersions lists exactly the registry, sorted by key, at every version
// it is served at, and the response encodes and decodes.
func TestApiVersionsListsRegistry(t *testing.T) {
	for _, r := range listenerRegistries() {
		t.Run(r.name, func(t *testing.T) { checkApiVersions(t, r.new(Deps{}), r.reg) })
	}
}

func checkApiVersions(t *testing.T, h *Handlers, reg map[kmsg.Key]api) {
	want := make([]kmsg.ApiVersionsResponseApiKey, 0, len(reg))
	for k, a := range reg {
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = int16(k), a.min, a.max
		want = append(want, v)
	}
	slices.SortFunc(want, func(a, b kmsg.ApiVersionsResponseApiKey) int { return int(a.ApiKey) - int(b.ApiKey) })
	av := reg[kmsg.ApiVersions]
	for v := av.min; v <= av.max; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		reply := h.Handle(context.Background(), &server.Request{Body: req})
		resp, ok := reply.Response.(*kmsg.ApiVersionsResponse)
		if !ok || reply.Close || reply.Wait != nil || reply.Later != nil {
			t.Fatalf("v%d: reply %+v", v, reply)
		}
		if resp.GetVersion() != v || resp.ErrorCode != 0 {
			t.Errorf("v%d: response version %d, error %d", v, resp.GetVersion(), resp.ErrorCode)
		}
		decoded := kmsg.NewPtrApiVersionsResponse()
		decoded.SetVersion(v)
		if err := decoded.ReadFrom(resp.AppendTo(nil)); err != nil {
			t.Fatalf("v%d: response does not decode: %v", v, err)
		}
		if len(decoded.ApiKeys) != len(want) {
			t.Fatalf("v%d: %d keys, registry has %d", v, len(decoded.ApiKeys), len(want))
		}
		for i, k := range decoded.ApiKeys {
			w := want[i]
			if k.ApiKey != w.ApiKey || k.MinVersion != w.MinVersion || k.MaxVersion != w.MaxVersion {
				t.Errorf("v%d: key %d is %d %d-%d, want %d %d-%d", v, i, k.ApiKey, k.MinVersion, k.MaxVersion, w.ApiKey, w.MinVersion, w.MaxVersion)
			}
		}
	}
}

// Handle closes the connection for a request its registry does not have
// (the server never passes one, but the handler must not panic).
func TestHandleUnregisteredKeyCloses(t *testing.T) {
	for _, r := range listenerRegistries() {
		h := r.new(Deps{})
		for _, req := range []kmsg.Request{kmsg.NewPtrJoinGroupRequest(), kmsg.NewPtrProduceRequest(), kmsg.NewPtrBrokerHeartbeatRequest()} {
			if _, ok := r.reg[kmsg.Key(req.Key())]; ok {
				continue
			}
			if reply := h.Handle(context.Background(), &server.Request{Body: req}); !reply.Close || reply.Response != nil {
				t.Errorf("%s listener, key %d: reply %+v, want Close", r.name, req.Key(), reply)
			}
		}
	}
}
