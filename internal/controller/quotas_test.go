package controller

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

func userPart(name string) metadata.QuotaEntityPart {
	return metadata.QuotaEntityPart{Type: metadata.QuotaEntityUser, Name: &name}
}

func clientPart(name string) metadata.QuotaEntityPart {
	return metadata.QuotaEntityPart{Type: metadata.QuotaEntityClientID, Name: &name}
}

func TestAlterClientQuotas(t *testing.T) {
	h := newHarness(t, 1, nil)
	ctx := context.Background()
	before := len(h.log.entries)
	alice := []metadata.QuotaEntityPart{userPart("alice"), clientPart("app")}
	defUser := []metadata.QuotaEntityPart{{Type: metadata.QuotaEntityUser}}
	errs, err := h.c.AlterClientQuotas(ctx, []QuotaAlteration{
		{Entity: alice, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: 5 << 20}, {Key: QuotaRequestPercentage, Value: 12.5}}},
		{Entity: defUser, Ops: []QuotaOp{{Key: QuotaConsumerByteRate, Value: 1.5}}}, // fractional: refused
		{Entity: defUser, Ops: []QuotaOp{{Key: QuotaControllerMutationRate, Value: 10}}},
	}, false)
	if err != nil || errs[0] != nil || !errors.Is(errs[1], kerr.InvalidRequest) || errs[2] != nil {
		t.Fatalf("AlterClientQuotas: %v %v", errs, err)
	}
	if n := len(h.log.entries) - before; n != 1 {
		t.Fatalf("committed %d entries, want 1", n)
	}
	e, _ := metadata.EntityOf(alice)
	if v, ok := h.latest().ClientQuota(e, QuotaProducerByteRate); !ok || v != 5<<20 {
		t.Fatalf("producer_byte_rate = %v %v", v, ok)
	}
	// Removal, and a validate-only change that commits nothing.
	errs, err = h.c.AlterClientQuotas(ctx, []QuotaAlteration{{Entity: alice, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Remove: true}}}}, false)
	if err != nil || errs[0] != nil {
		t.Fatalf("remove: %v %v", errs, err)
	}
	before = len(h.log.entries)
	errs, err = h.c.AlterClientQuotas(ctx, []QuotaAlteration{{Entity: alice, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: 1}}}}, true)
	if err != nil || errs[0] != nil || len(h.log.entries) != before {
		t.Fatalf("validate only: %v %v, %d entries", errs, err, len(h.log.entries)-before)
	}
	want := map[metadata.QuotaEntity]map[string]float64{
		e: {QuotaRequestPercentage: 12.5},
		{User: metadata.QuotaName{Kind: metadata.QuotaDefault}}: {QuotaControllerMutationRate: 10},
	}
	if got := h.latest().ClientQuotas(); !reflect.DeepEqual(got, want) {
		t.Fatalf("quotas %v, want %v", got, want)
	}
	if !reflect.DeepEqual(h.replay(t).ClientQuotas(), want) {
		t.Error("quota state does not come from replaying records")
	}
}

func TestQuotaRecordsValidation(t *testing.T) {
	img := metadata.Empty()
	ok := []metadata.QuotaEntityPart{userPart("u")}
	for _, tc := range []struct {
		name string
		a    QuotaAlteration
	}{
		{"empty entity", QuotaAlteration{Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: 1}}}},
		{"ip entity", QuotaAlteration{Entity: []metadata.QuotaEntityPart{{Type: "ip"}}, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: 1}}}},
		{"user twice", QuotaAlteration{Entity: []metadata.QuotaEntityPart{userPart("a"), userPart("b")}}},
		{"unknown key", QuotaAlteration{Entity: ok, Ops: []QuotaOp{{Key: "producer_byte_rat", Value: 1}}}},
		{"key twice", QuotaAlteration{Entity: ok, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: 1}, {Key: QuotaProducerByteRate, Remove: true}}}},
		{"fraction", QuotaAlteration{Entity: ok, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Value: 0.5}}}},
		{"zero", QuotaAlteration{Entity: ok, Ops: []QuotaOp{{Key: QuotaRequestPercentage, Value: 0}}}},
		{"NaN", QuotaAlteration{Entity: ok, Ops: []QuotaOp{{Key: QuotaRequestPercentage, Value: math.NaN()}}}},
		{"too big", QuotaAlteration{Entity: ok, Ops: []QuotaOp{{Key: QuotaConsumerByteRate, Value: 1e30}}}},
	} {
		if _, err := QuotaRecords(img, tc.a); !errors.Is(err, kerr.InvalidRequest) {
			t.Errorf("%s: err %v, want INVALID_REQUEST", tc.name, err)
		}
	}
	recs, err := QuotaRecords(img, QuotaAlteration{Entity: ok, Ops: []QuotaOp{{Key: QuotaProducerByteRate, Remove: true}}})
	if err != nil || len(recs) != 0 {
		t.Fatalf("removing an unset key: %v %v", recs, err)
	}
}

// FuzzQuotaRecords: any alteration is refused with INVALID_REQUEST or
// yields records the image replays.
func FuzzQuotaRecords(f *testing.F) {
	f.Add("user", "alice", true, "client-id", "", false, "producer_byte_rate", 1024.0, false)
	f.Add("ip", "1.2.3.4", true, "", "", false, "connection_creation_rate", 5.0, false)
	f.Add("client-id", "", false, "client-id", "x", true, "request_percentage", -1.0, true)
	f.Fuzz(func(t *testing.T, t1, n1 string, named1 bool, t2, n2 string, named2 bool, key string, v float64, remove bool) {
		part := func(typ, name string, named bool) metadata.QuotaEntityPart {
			p := metadata.QuotaEntityPart{Type: typ}
			if named {
				p.Name = &name
			}
			return p
		}
		a := QuotaAlteration{Entity: []metadata.QuotaEntityPart{part(t1, n1, named1)}, Ops: []QuotaOp{{Key: key, Value: v, Remove: remove}}}
		if t2 != "" {
			a.Entity = append(a.Entity, part(t2, n2, named2))
		}
		recs, err := QuotaRecords(metadata.Empty(), a)
		if err != nil {
			if !errors.Is(err, kerr.InvalidRequest) {
				t.Fatalf("error %v is not INVALID_REQUEST", err)
			}
			return
		}
		if _, _, err := metadata.Empty().Apply(0, recs); err != nil {
			t.Fatalf("records %v do not replay: %v", recs, err)
		}
	})
}
