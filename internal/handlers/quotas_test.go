package handlers

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *fakeController) AlterClientQuotas(_ context.Context, alts []controller.QuotaAlteration, _ bool) ([]error, error) {
	return make([]error, len(alts)), nil
}

func TestClientQuotasAuthz(t *testing.T) {
	for _, tc := range []authzCase{
		{name: "DescribeClientQuotas", need: acls(clusterGrant(opDescCfg)),
			req:  func() kmsg.Request { return kmsg.NewPtrDescribeClientQuotasRequest() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeClientQuotasResponse).ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
		{name: "AlterClientQuotas", need: acls(clusterGrant(opAlterCfg)),
			req: func() kmsg.Request {
				r := kmsg.NewPtrAlterClientQuotasRequest()
				e := kmsg.NewAlterClientQuotasRequestEntry()
				u := "u"
				e.Entity = []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: &u}}
				e.Ops = []kmsg.AlterClientQuotasRequestEntryOp{{Key: "producer_byte_rate", Value: 1024}}
				r.Entries = append(r.Entries, e)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterClientQuotasResponse).Entries[0].ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) { runAuthzCase(t, tc) })
	}
}

// quotaImage holds quotas at user alice, user alice/client app, the
// default user, client app and the default client.
func quotaImage(t *testing.T) *metadata.Image {
	t.Helper()
	name := func(s string) *string { return &s }
	v := func(f float64) *float64 { return &f }
	u := func(n *string) metadata.QuotaEntityPart { return metadata.QuotaEntityPart{Type: "user", Name: n} }
	c := func(n *string) metadata.QuotaEntityPart { return metadata.QuotaEntityPart{Type: "client-id", Name: n} }
	img, _, err := metadata.Empty().Apply(0, []metadata.Record{
		metadata.ClientQuota{Entity: []metadata.QuotaEntityPart{u(name("alice"))}, Key: "producer_byte_rate", Value: v(1)},
		metadata.ClientQuota{Entity: []metadata.QuotaEntityPart{u(name("alice")), c(name("app"))}, Key: "producer_byte_rate", Value: v(2)},
		metadata.ClientQuota{Entity: []metadata.QuotaEntityPart{u(nil)}, Key: "consumer_byte_rate", Value: v(3)},
		metadata.ClientQuota{Entity: []metadata.QuotaEntityPart{c(name("app"))}, Key: "request_percentage", Value: v(4)},
		metadata.ClientQuota{Entity: []metadata.QuotaEntityPart{c(nil)}, Key: "request_percentage", Value: v(5)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func describeQuotas(t *testing.T, img *metadata.Image, strict bool, comps ...kmsg.DescribeClientQuotasRequestComponent) *kmsg.DescribeClientQuotasResponse {
	t.Helper()
	h := New(Deps{Image: func() *metadata.Image { return img }, Logger: slog.New(slog.DiscardHandler)})
	r := kmsg.NewPtrDescribeClientQuotasRequest()
	r.Components, r.Strict = comps, strict
	return h.Handle(context.Background(), &server.Request{Body: r}).Response.(*kmsg.DescribeClientQuotasResponse)
}

func comp(typ string, mt kmsg.QuotasMatchType, match *string) kmsg.DescribeClientQuotasRequestComponent {
	return kmsg.DescribeClientQuotasRequestComponent{EntityType: typ, MatchType: mt, Match: match}
}

// TestDescribeClientQuotasFilter checks KIP-546's matching: each case
// lists the values (one per quota of quotaImage) of the entities found.
func TestDescribeClientQuotasFilter(t *testing.T) {
	img := quotaImage(t)
	alice, app := "alice", "app"
	for _, tc := range []struct {
		name   string
		strict bool
		comps  []kmsg.DescribeClientQuotasRequestComponent
		want   []float64
	}{
		{"all", false, nil, []float64{5, 4, 3, 1, 2}},
		{"strict none", true, nil, nil},
		{"user alice", false, []kmsg.DescribeClientQuotasRequestComponent{comp("user", kmsg.QuotasMatchTypeExact, &alice)}, []float64{1, 2}},
		{"user alice strict", true, []kmsg.DescribeClientQuotasRequestComponent{comp("user", kmsg.QuotasMatchTypeExact, &alice)}, []float64{1}},
		{"default user", false, []kmsg.DescribeClientQuotasRequestComponent{comp("user", kmsg.QuotasMatchTypeDefault, nil)}, []float64{3}},
		{"any user", false, []kmsg.DescribeClientQuotasRequestComponent{comp("user", kmsg.QuotasMatchTypeAny, nil)}, []float64{3, 1, 2}},
		{"any client strict", true, []kmsg.DescribeClientQuotasRequestComponent{comp("client-id", kmsg.QuotasMatchTypeAny, nil)}, []float64{5, 4}},
		{"client app", false, []kmsg.DescribeClientQuotasRequestComponent{comp("client-id", kmsg.QuotasMatchTypeExact, &app)}, []float64{4, 2}},
		{"alice and app", true, []kmsg.DescribeClientQuotasRequestComponent{
			comp("user", kmsg.QuotasMatchTypeExact, &alice), comp("client-id", kmsg.QuotasMatchTypeExact, &app)}, []float64{2}},
		{"ip", false, []kmsg.DescribeClientQuotasRequestComponent{comp("ip", kmsg.QuotasMatchTypeAny, nil)}, nil},
	} {
		resp := describeQuotas(t, img, tc.strict, tc.comps...)
		if resp.ErrorCode != 0 {
			t.Errorf("%s: error %d", tc.name, resp.ErrorCode)
			continue
		}
		var got []float64
		for _, e := range resp.Entries {
			got = append(got, e.Values[0].Value)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: values %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDescribeClientQuotasBadFilter(t *testing.T) {
	img := quotaImage(t)
	x := "x"
	for _, comps := range [][]kmsg.DescribeClientQuotasRequestComponent{
		{comp("user", kmsg.QuotasMatchTypeAny, nil), comp("user", kmsg.QuotasMatchTypeDefault, nil)},
		{comp("group", kmsg.QuotasMatchTypeAny, nil)},
		{comp("user", kmsg.QuotasMatchTypeExact, nil)},
		{comp("user", kmsg.QuotasMatchTypeDefault, &x)},
		{comp("user", 7, nil)},
		{comp("ip", kmsg.QuotasMatchTypeAny, nil), comp("user", kmsg.QuotasMatchTypeAny, nil)},
	} {
		if resp := describeQuotas(t, img, false, comps...); resp.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("%v: code %d, want INVALID_REQUEST", comps, resp.ErrorCode)
		}
	}
}

// fakeQuotas throttles every record by the bytes recorded, in ms.
type fakeQuotas struct{ got []string }

func (q *fakeQuotas) Record(key, user, client string, n float64, _ time.Time) time.Duration {
	q.got = append(q.got, key+" "+user+" "+client)
	return time.Duration(n) * time.Millisecond
}

func (q *fakeQuotas) Mutate(string, string, float64, time.Time, bool) (bool, time.Duration) {
	return true, 0
}

func (q *timeQuotas) Mutate(string, string, float64, time.Time, bool) (bool, time.Duration) {
	return true, 0
}

// mutationQuotas admits mutations while fewer than budget were recorded
// (strict) and throttles 1 s per partition over it.
type mutationQuotas struct {
	budget, used float64
	strict       []bool
}

func (q *mutationQuotas) Record(string, string, string, float64, time.Time) time.Duration { return 0 }

func (q *mutationQuotas) Mutate(_, _ string, n float64, _ time.Time, strict bool) (bool, time.Duration) {
	q.strict = append(q.strict, strict)
	over := func() time.Duration { return time.Duration(max(0, q.used-q.budget)) * time.Second }
	if strict && q.used >= q.budget {
		return false, over()
	}
	q.used += n
	return true, over()
}

// TestMutationQuota: CreateTopics v6 admits topics while the client is
// within its controller mutation quota and refuses the rest with
// THROTTLING_QUOTA_EXCEEDED; v5 only records. Both carry the throttle.
func TestMutationQuota(t *testing.T) {
	img := authzImage(t, nil)
	cfg, err := config.NewBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version int16
		want    []int16
	}{
		{6, []int16{0, 0, kerr.ThrottlingQuotaExceeded.Code, kerr.ThrottlingQuotaExceeded.Code}},
		{5, []int16{0, 0, 0, 0}},
	} {
		q := &mutationQuotas{budget: 5}
		h := New(Deps{Config: cfg, Image: func() *metadata.Image { return img }, Controller: &fakeController{}, Quotas: q,
			Logger: slog.New(slog.DiscardHandler)})
		r := kmsg.NewPtrCreateTopicsRequest()
		r.SetVersion(tc.version)
		for _, name := range []string{"a", "b", "c", "d"} {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 3, 1
			r.Topics = append(r.Topics, rt)
		}
		resp := h.Handle(context.Background(), &server.Request{Body: r}).Response.(*kmsg.CreateTopicsResponse)
		var got []int16
		for i, rt := range resp.Topics {
			if rt.Topic != r.Topics[i].Topic {
				t.Fatalf("v%d: topic %d is %q, want %q", tc.version, i, rt.Topic, r.Topics[i].Topic)
			}
			got = append(got, rt.ErrorCode)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("v%d: codes %v, want %v", tc.version, got, tc.want)
		}
		if resp.ThrottleMillis <= 0 {
			t.Errorf("v%d: no throttle time", tc.version)
		}
	}
}

func TestWithThrottle(t *testing.T) {
	ms := func(kmsg.Response) time.Duration { return 7 * time.Millisecond }
	resp := kmsg.NewPtrProduceResponse()
	if r := withThrottle(server.Reply{Response: resp}, ms, true); r.Response.(*kmsg.ProduceResponse).ThrottleMillis != 7 {
		t.Fatal("immediate response not throttled")
	}
	later := withThrottle(server.Reply{Later: func() kmsg.Response { return kmsg.NewPtrFetchResponse() }}, ms, true)
	if later.Later().(*kmsg.FetchResponse).ThrottleMillis != 7 {
		t.Fatal("later response not throttled")
	}
	ch := make(chan kmsg.Response, 1)
	ch <- kmsg.NewPtrProduceResponse()
	if r := <-withThrottle(server.Reply{Wait: ch}, ms, true).Wait; r.(*kmsg.ProduceResponse).ThrottleMillis != 7 {
		t.Fatal("waited response not throttled")
	}
	if r := withThrottle(server.Reply{}, ms, true); r.Throttle != 7*time.Millisecond {
		t.Fatalf("no-response reply: throttle %v", r.Throttle)
	}
}

// TestFetchQuotaSkipsFollowers: a follower's fetch records nothing; a
// consumer's records on consumer_byte_rate and request_percentage under
// its principal's name.
func TestFetchQuotaSkipsFollowers(t *testing.T) {
	q := &fakeQuotas{}
	img := authzImage(t, nil)
	h := New(Deps{Image: func() *metadata.Image { return img }, Partitions: noReplicas{}, Quotas: q,
		Logger: slog.New(slog.DiscardHandler)})
	s := &server.Session{Listener: "X"}
	s.SetAuthenticated("User:carol", time.Time{})
	for _, replica := range []int32{1, -1} {
		r := kmsg.NewPtrFetchRequest()
		r.SetVersion(12)
		r.ReplicaID = replica
		reply := h.Handle(context.Background(), &server.Request{Body: r, ClientID: "cli", Session: s, Listener: "X"})
		if reply.Later != nil {
			reply.Later()
		}
	}
	if want := []string{"consumer_byte_rate carol cli", "request_percentage carol cli"}; !reflect.DeepEqual(q.got, want) {
		t.Fatalf("recorded %v, want %v", q.got, want)
	}
}

// timeQuotas throttles request_percentage by 5 ms and records nothing
// else.
type timeQuotas struct{ keys []string }

func (q *timeQuotas) Record(key, _, _ string, n float64, _ time.Time) time.Duration {
	q.keys = append(q.keys, key)
	if key == controller.QuotaRequestPercentage && n >= 0 {
		return 5 * time.Millisecond
	}
	return 0
}

// TestRequestQuota: any API's response carries the request quota's
// throttle; the controller listener is exempt.
func TestRequestQuota(t *testing.T) {
	img := authzImage(t, nil)
	q := &timeQuotas{}
	d := Deps{Image: func() *metadata.Image { return img }, Partitions: noReplicas{}, Quotas: q, Logger: slog.New(slog.DiscardHandler)}
	reply := New(d).Handle(context.Background(), &server.Request{Body: kmsg.NewPtrMetadataRequest(), Listener: "X"})
	if got := reply.Response.(*kmsg.MetadataResponse).ThrottleMillis; got != 5 {
		t.Fatalf("Metadata throttle %d ms, want 5", got)
	}
	q.keys = nil
	NewController(d).Handle(context.Background(), &server.Request{Body: kmsg.NewPtrApiVersionsRequest(), Listener: "CONTROLLER"})
	if len(q.keys) != 0 {
		t.Fatalf("controller listener recorded %v", q.keys)
	}
}

// FuzzClientQuotaRequests decodes arbitrary DescribeClientQuotas and
// AlterClientQuotas bodies and serves them: never a panic, one alter
// result per entry.
func FuzzClientQuotaRequests(f *testing.F) {
	d := kmsg.NewPtrDescribeClientQuotasRequest()
	x := "x"
	d.Components = []kmsg.DescribeClientQuotasRequestComponent{comp("user", kmsg.QuotasMatchTypeExact, &x)}
	a := kmsg.NewPtrAlterClientQuotasRequest()
	e := kmsg.NewAlterClientQuotasRequestEntry()
	e.Entity = []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "client-id", Name: &x}}
	e.Ops = []kmsg.AlterClientQuotasRequestEntryOp{{Key: "producer_byte_rate", Value: 1}}
	a.Entries = append(a.Entries, e)
	f.Add(false, int16(1), d.AppendTo(nil))
	f.Add(true, int16(1), a.AppendTo(nil))
	f.Add(true, int16(0), []byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, alter bool, version int16, b []byte) {
		img := quotaImage(t)
		h := New(Deps{Image: func() *metadata.Image { return img }, Controller: &fakeController{}, Logger: slog.New(slog.DiscardHandler)})
		var req kmsg.Request = kmsg.NewPtrDescribeClientQuotasRequest()
		if alter {
			req = kmsg.NewPtrAlterClientQuotasRequest()
		}
		req.SetVersion(version & 1)
		if req.ReadFrom(b) != nil {
			return
		}
		reply := h.Handle(context.Background(), &server.Request{Body: req})
		if ar, ok := req.(*kmsg.AlterClientQuotasRequest); ok {
			if got := len(reply.Response.(*kmsg.AlterClientQuotasResponse).Entries); got != len(ar.Entries) {
				t.Fatalf("%d results for %d entries", got, len(ar.Entries))
			}
		}
	})
}
