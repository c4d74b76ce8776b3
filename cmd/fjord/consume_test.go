package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestStartOffset(t *testing.T) {
	tests := []struct {
		name string
		o    consumeOpts
		want kgo.Offset
		ok   bool
	}{
		{"default end", consumeOpts{offset: -1, partition: -1}, kgo.NewOffset().AtEnd(), true},
		{"beginning", consumeOpts{offset: -1, partition: -1, fromBeginning: true}, kgo.NewOffset().AtStart(), true},
		{"exact", consumeOpts{offset: 42, partition: 0}, kgo.NewOffset().At(42), true},
		{"offset needs partition", consumeOpts{offset: 42, partition: -1}, kgo.Offset{}, false},
		{"exclusive", consumeOpts{offset: 1, partition: 0, fromBeginning: true}, kgo.Offset{}, false},
		{"negative", consumeOpts{offset: -5, partition: 0}, kgo.Offset{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := startOffset(tt.o)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err == nil && got.String() != tt.want.String() {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConsumerOptsGroup(t *testing.T) {
	if opts, err := consumerOpts("t", consumeOpts{group: "g", offset: -1, partition: -1}); err != nil || len(opts) != 5 {
		t.Errorf("group consume: %v, %d opts", err, len(opts))
	}
	if opts, err := consumerOpts("t", consumeOpts{offset: 3, partition: 2, isolation: "read_committed"}); err != nil || len(opts) != 2 {
		t.Errorf("partition consume: %v, %d opts", err, len(opts))
	}
}

func TestIsolationOpt(t *testing.T) {
	for _, level := range []string{"", "read_uncommitted", "read_committed"} {
		if _, err := isolationOpt(level); err != nil {
			t.Errorf("%q: %v", level, err)
		}
	}
	if _, err := consumerOpts("t", consumeOpts{offset: -1, partition: -1, isolation: "committed"}); err == nil {
		t.Error("--isolation committed accepted")
	}
}

func TestWriteRecord(t *testing.T) {
	r := &kgo.Record{Key: []byte("k"), Value: []byte("v"), Partition: 2, Offset: 17}
	nullKey := &kgo.Record{Value: []byte("v"), Offset: 3}
	tombstone := &kgo.Record{Key: []byte("k")}
	tests := []struct {
		name string
		r    *kgo.Record
		o    consumeOpts
		want string
	}{
		{"value only", r, consumeOpts{keySeparator: "\t"}, "v\n"},
		{"key", r, consumeOpts{printKey: true, keySeparator: "\t"}, "k\tv\n"},
		{"key custom sep", r, consumeOpts{printKey: true, keySeparator: " => "}, "k => v\n"},
		{"offset and key", r, consumeOpts{printKey: true, printOffset: true, keySeparator: "\t"}, "Offset:17\tk\tv\n"},
		{"partition", r, consumeOpts{printPartition: true, printOffset: true, keySeparator: "\t"}, "Partition:2\tOffset:17\tv\n"},
		{"null key", nullKey, consumeOpts{printKey: true, keySeparator: "\t"}, "null\tv\n"},
		{"null value", tombstone, consumeOpts{keySeparator: "\t"}, "null\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		writeRecord(&buf, tt.r, tt.o)
		if buf.String() != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, buf.String(), tt.want)
		}
	}
}

func TestIdleDeadline(t *testing.T) {
	if d := newIdleDeadline(0).deadline(); !d.IsZero() {
		t.Errorf("no timeout: deadline %v", d)
	}
	d := newIdleDeadline(time.Second)
	first := d.deadline()
	time.Sleep(2 * time.Millisecond)
	d.touch()
	if !d.deadline().After(first) {
		t.Errorf("touch did not extend the deadline")
	}
}
