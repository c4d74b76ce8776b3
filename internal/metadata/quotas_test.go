package metadata

import (
	"errors"
	"reflect"
	"testing"
)

func strp(s string) *string { return &s }

func f64(v float64) *float64 { return &v }

func TestClientQuotaReplay(t *testing.T) {
	alice := []QuotaEntityPart{{Type: QuotaEntityUser, Name: strp("alice")}}
	aliceApp := []QuotaEntityPart{{Type: QuotaEntityUser, Name: strp("alice")}, {Type: QuotaEntityClientID, Name: strp("app")}}
	defClient := []QuotaEntityPart{{Type: QuotaEntityClientID}}
	img, _, err := Empty().Apply(0, []Record{
		ClusterID{ID: "c"},
		ClientQuota{Entity: alice, Key: "producer_byte_rate", Value: f64(1024)},
		ClientQuota{Entity: aliceApp, Key: "consumer_byte_rate", Value: f64(2048)},
		ClientQuota{Entity: defClient, Key: "request_percentage", Value: f64(50)},
	})
	if err != nil {
		t.Fatal(err)
	}
	eAlice := QuotaEntity{User: QuotaName{QuotaNamed, "alice"}}
	if v, ok := img.ClientQuota(eAlice, "producer_byte_rate"); !ok || v != 1024 {
		t.Fatalf("alice producer_byte_rate = %v %v", v, ok)
	}
	if v, ok := img.ClientQuota(QuotaEntity{ClientID: QuotaName{Kind: QuotaDefault}}, "request_percentage"); !ok || v != 50 {
		t.Fatalf("default client request_percentage = %v %v", v, ok)
	}
	// Removing the last key drops the entity; the earlier image keeps it.
	img2, _, err := img.Apply(1, []Record{ClientQuota{Entity: alice, Key: "producer_byte_rate"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := img2.ClientQuotas()[eAlice]; ok {
		t.Fatal("alice still has quotas after removal")
	}
	if _, ok := img.ClientQuota(eAlice, "producer_byte_rate"); !ok {
		t.Fatal("removal modified the earlier image")
	}
	// A snapshot rebuilds the quotas.
	snap, err := EncodeSnapshot(img)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := DecodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := Empty().Apply(img.Offset, recs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.ClientQuotas(), img.ClientQuotas()) {
		t.Fatalf("snapshot quotas %v, want %v", back.ClientQuotas(), img.ClientQuotas())
	}
}

func TestClientQuotaBadEntity(t *testing.T) {
	for _, parts := range [][]QuotaEntityPart{
		nil,
		{{Type: "ip", Name: strp("1.2.3.4")}},
		{{Type: QuotaEntityUser}, {Type: QuotaEntityUser, Name: strp("a")}},
	} {
		_, _, err := Empty().Apply(0, []Record{ClientQuota{Entity: parts, Key: "producer_byte_rate", Value: f64(1)}})
		if !errors.Is(err, ErrInconsistent) {
			t.Errorf("entity %v: err %v, want ErrInconsistent", parts, err)
		}
	}
}

func TestQuotaEntityString(t *testing.T) {
	e := QuotaEntity{User: QuotaName{QuotaNamed, "alice"}, ClientID: QuotaName{Kind: QuotaDefault}}
	if got := e.String(); got != "user=alice,client-id=<default>" {
		t.Fatalf("String = %q", got)
	}
	back, err := EntityOf(e.Parts())
	if err != nil || back != e {
		t.Fatalf("EntityOf(Parts) = %v %v", back, err)
	}
}

// FuzzClientQuotaDecode decodes arbitrary ClientQuota records and
// replays them: never a panic, and an accepted entity round-trips.
func FuzzClientQuotaDecode(f *testing.F) {
	f.Add([]byte(`{"type":"ClientQuota","v":1,"data":{"entity":[{"type":"user","name":"a"},{"type":"client-id"}],"key":"producer_byte_rate","value":5}}`))
	f.Add([]byte(`{"type":"ClientQuota","data":{"entity":[{"type":"ip"}],"key":"k"}}`))
	f.Add([]byte(`{"type":"ClientQuota","data":{"entity":[],"key":""}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		q, ok := r.(ClientQuota)
		if !ok {
			return
		}
		if e, err := EntityOf(q.Entity); err == nil {
			if back, err := EntityOf(e.Parts()); err != nil || back != e {
				t.Fatalf("entity %v does not round-trip: %v %v", e, back, err)
			}
		}
		_, _, _ = Empty().Apply(0, []Record{q})
	})
}
