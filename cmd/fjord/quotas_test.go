package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func strPtr(s string) *string { return &s }

func TestJavaDouble(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0.0", 1024: "1024.0", 12.5: "12.5", 5242880: "5242880.0", 1e7: "1.0E7", 1.5e-5: "1.5E-5",
		123456789: "1.23456789E8", 0.001: "0.001",
	} {
		if got := javaDouble(v); got != want {
			t.Errorf("javaDouble(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestQuotaAlteration(t *testing.T) {
	alice := quotaEntityFlags{user: "alice", userSet: true}
	got, err := quotaAlteration(quotasAlterOpts{
		entity: quotaEntityFlags{user: "alice", userSet: true, clientIDDefaults: true},
		add:    []string{"producer_byte_rate=5242880", " request_percentage = 12.5"}, del: []string{"consumer_byte_rate"},
	})
	want := kadm.AlterClientQuotaEntry{
		Entity: kadm.ClientQuotaEntity{{Type: "user", Name: strPtr("alice")}, {Type: "client-id"}},
		Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 5242880}, {Key: "request_percentage", Value: 12.5},
			{Key: "consumer_byte_rate", Remove: true}},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v\nwant %+v", got, err, want)
	}
	for _, tc := range []struct {
		o       quotasAlterOpts
		wantErr string
	}{
		{quotasAlterOpts{add: []string{"producer_byte_rate=1"}}, "name the entity"},
		{quotasAlterOpts{entity: alice}, "nothing to change"},
		{quotasAlterOpts{entity: alice, add: []string{"producer_byte_rate"}}, "want key=number"},
		{quotasAlterOpts{entity: alice, add: []string{"producer_byte_rate=fast"}}, "want key=number"},
		{quotasAlterOpts{entity: alice, del: []string{" "}}, "empty key"},
		{quotasAlterOpts{entity: quotaEntityFlags{userSet: true, userDefaults: true}, del: []string{"x"}}, "not both"},
	} {
		if _, err := quotaAlteration(tc.o); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%+v: err %v, want %q", tc.o, err, tc.wantErr)
		}
	}
}

func TestQuotaDescribeFilter(t *testing.T) {
	strict, comps := quotaDescribeFilter(kadm.ClientQuotaEntity{{Type: "user", Name: strPtr("a")}, {Type: "client-id"}})
	want := []kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: strPtr("a"), MatchType: 0}, {Type: "client-id", MatchType: 1}}
	if !strict || !reflect.DeepEqual(comps, want) {
		t.Fatalf("filter %v %+v", strict, comps)
	}
	if strict, comps := quotaDescribeFilter(nil); strict || comps != nil {
		t.Fatalf("empty filter %v %+v", strict, comps)
	}
}

func TestQuotasWriteDescribed(t *testing.T) {
	qs := kadm.DescribedClientQuotas{
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: strPtr("alice")}},
			Values: kadm.ClientQuotaValues{{Key: "producer_byte_rate", Value: 1024}, {Key: "consumer_byte_rate", Value: 2048}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: strPtr("alice")}, {Type: "client-id", Name: strPtr("app")}},
			Values: kadm.ClientQuotaValues{{Key: "producer_byte_rate", Value: 5242880}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user"}}, Values: kadm.ClientQuotaValues{{Key: "request_percentage", Value: 12.5}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "client-id"}}, Values: kadm.ClientQuotaValues{{Key: "consumer_byte_rate", Value: 1e8}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user"}, {Type: "client-id"}},
			Values: kadm.ClientQuotaValues{{Key: "controller_mutation_rate", Value: 10}}},
	}
	var buf bytes.Buffer
	writeQuotas(&buf, qs)
	checkGolden(t, "quotas_describe.golden", buf.Bytes())
}

func TestQuotasWriteAltered(t *testing.T) {
	res := kadm.AlteredClientQuotas{
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: strPtr("alice")}, {Type: "client-id", Name: strPtr("app")}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "client-id"}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: strPtr("bob")}}, Err: kerr.InvalidRequest, ErrMessage: "unknown quota key \"x\""},
	}
	var buf bytes.Buffer
	err := writeAlteredQuotas(&buf, res, false)
	checkGolden(t, "quotas_alter.golden", buf.Bytes())
	if err == nil || !strings.Contains(err.Error(), "user-principal 'bob': INVALID_REQUEST") || !strings.Contains(err.Error(), "unknown quota key") {
		t.Errorf("error %v", err)
	}
	buf.Reset()
	if err := writeAlteredQuotas(&buf, res[:1], true); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "quotas_alter_validate.golden", buf.Bytes())
}
