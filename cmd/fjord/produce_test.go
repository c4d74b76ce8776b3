package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestLineRecord(t *testing.T) {
	tests := []struct {
		line, sep          string
		key, value         string
		wantKey, wantError bool
	}{
		{"hello", "", "", "hello", false, false},
		{"", "", "", "", false, false},
		{"k\tv", "", "", "k\tv", false, false},
		{"k:v:w", ":", "k", "v:w", true, false},
		{"k::v", "::", "k", "v", true, false},
		{":v", ":", "", "v", true, false},
		{"crlf\r", "", "", "crlf", false, false},
		{"nokey", ":", "", "", false, true},
	}
	for _, tt := range tests {
		r, err := lineRecord(tt.line, tt.sep, 7)
		if (err != nil) != tt.wantError {
			t.Errorf("lineRecord(%q, %q) err = %v", tt.line, tt.sep, err)
			continue
		}
		if err != nil {
			continue
		}
		if string(r.Value) != tt.value || (r.Key != nil) != tt.wantKey || string(r.Key) != tt.key {
			t.Errorf("lineRecord(%q, %q) = key %q value %q", tt.line, tt.sep, r.Key, r.Value)
		}
	}
}

func TestProducerOpts(t *testing.T) {
	tests := []struct {
		acks, compression string
		idempotent        bool
		ok                bool
	}{
		{"all", "none", false, true},
		{"1", "zstd", false, true},
		{"all", "lz4", true, true},
		{"1", "none", true, false},
		{"x", "none", false, false},
		{"all", "x", false, false},
	}
	for _, tt := range tests {
		_, err := producerOpts("t", tt.acks, tt.compression, tt.idempotent)
		if (err == nil) != tt.ok {
			t.Errorf("producerOpts(%q, %q, %v) = %v, want ok=%v", tt.acks, tt.compression, tt.idempotent, err, tt.ok)
		}
	}
}

// fjord produce asks the broker to auto-create a missing topic, as
// kafka-console-producer does.
func TestProduceCommandAutoCreates(t *testing.T) {
	opts, err := produceCommandOpts("t", produceOpts{acks: "all", compression: "none", partition: -1})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers("127.0.0.1:1"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if v, ok := cl.OptValue(kgo.AllowAutoTopicCreation).(bool); !ok || !v {
		t.Errorf("AllowAutoTopicCreation = %v", cl.OptValue(kgo.AllowAutoTopicCreation))
	}
}

// Records no broker acknowledges fail after --delivery-timeout (Kafka's
// delivery.timeout.ms, 2 minutes by default); kgo needs 0 or at least 1s.
func TestProduceCommandDeliveryTimeout(t *testing.T) {
	for _, tt := range []struct {
		timeout time.Duration
		ok      bool
	}{
		{defaultDeliveryTimeout, true}, {time.Second, true}, {0, true}, {10 * time.Millisecond, false}, {-time.Second, false},
	} {
		opts, err := produceCommandOpts("t", produceOpts{acks: "all", compression: "none", partition: -1, deliveryTimeout: tt.timeout})
		if (err == nil) != tt.ok {
			t.Errorf("--delivery-timeout %v: err %v, want ok=%v", tt.timeout, err, tt.ok)
		}
		if err != nil {
			continue
		}
		cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers("127.0.0.1:1"))...)
		if err != nil {
			t.Fatal(err)
		}
		if got := cl.OptValue(kgo.RecordDeliveryTimeout); got != tt.timeout {
			t.Errorf("--delivery-timeout %v: RecordDeliveryTimeout %v", tt.timeout, got)
		}
		cl.Close()
	}
}

// A record that timed out says which setting gave up on it.
func TestProduceErrorsTimeout(t *testing.T) {
	var p produceErrors
	p.promise(nil, kgo.ErrRecordTimeout)
	p.promise(nil, kgo.ErrRecordTimeout)
	err := p.err()
	if !errors.Is(err, kgo.ErrRecordTimeout) || !strings.Contains(err.Error(), "2 record(s) failed: no broker acknowledged them within --delivery-timeout") {
		t.Errorf("err = %v", err)
	}
}
