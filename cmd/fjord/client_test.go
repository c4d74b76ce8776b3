package main

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseAcks(t *testing.T) {
	tests := []struct {
		in      string
		want    kgo.Acks
		wantErr bool
	}{
		{"all", kgo.AllISRAcks(), false},
		{"ALL", kgo.AllISRAcks(), false},
		{"-1", kgo.AllISRAcks(), false},
		{"1", kgo.LeaderAck(), false},
		{" 0 ", kgo.NoAck(), false},
		{"2", kgo.Acks{}, true},
		{"", kgo.Acks{}, true},
		{"leader", kgo.Acks{}, true},
	}
	for _, tt := range tests {
		got, err := parseAcks(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseAcks(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseCompression(t *testing.T) {
	tests := []struct {
		in      string
		want    kgo.CompressionCodec
		wantErr bool
	}{
		{"", kgo.NoCompression(), false},
		{"none", kgo.NoCompression(), false},
		{"gzip", kgo.GzipCompression(), false},
		{"Snappy", kgo.SnappyCompression(), false},
		{"lz4", kgo.Lz4Compression(), false},
		{"zstd", kgo.ZstdCompression(), false},
		{"brotli", kgo.CompressionCodec{}, true},
	}
	for _, tt := range tests {
		got, err := parseCompression(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseCompression(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseKeyValue(t *testing.T) {
	tests := []struct {
		in, k, v string
		wantErr  bool
	}{
		{"retention.ms=1000", "retention.ms", "1000", false},
		{"cleanup.policy=compact,delete", "cleanup.policy", "compact,delete", false},
		{"a=b=c", "a", "b=c", false},
		{"empty=", "empty", "", false},
		{" spaced =x", "spaced", "x", false},
		{"novalue", "", "", true},
		{"=v", "", "", true},
		{"", "", "", true},
	}
	for _, tt := range tests {
		k, v, err := parseKeyValue(tt.in)
		if (err != nil) != tt.wantErr || k != tt.k || v != tt.v {
			t.Errorf("parseKeyValue(%q) = %q, %q, %v; want %q, %q, err=%v", tt.in, k, v, err, tt.k, tt.v, tt.wantErr)
		}
	}
}

func TestParseConfigs(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    map[string]string
		wantErr bool
	}{
		{"none", nil, map[string]string{}, false},
		{"two", []string{"a=1", "b=x,y"}, map[string]string{"a": "1", "b": "x,y"}, false},
		{"duplicate", []string{"a=1", "a=2"}, nil, true},
		{"malformed", []string{"a"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfigs(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			flat := make(map[string]string)
			for k, v := range got {
				flat[k] = *v
			}
			if !reflect.DeepEqual(flat, tt.want) {
				t.Errorf("got %v, want %v", flat, tt.want)
			}
		})
	}
}

func TestParseSeeds(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"127.0.0.1:9092", []string{"127.0.0.1:9092"}, false},
		{"a:1, b:2,,", []string{"a:1", "b:2"}, false},
		{" , ", nil, true},
	}
	for _, tt := range tests {
		got, err := parseSeeds(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseSeeds(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestBootstrapDefault(t *testing.T) {
	if got := bootstrapDefault(""); got != defaultBootstrap {
		t.Errorf("empty env: got %q", got)
	}
	if got := bootstrapDefault("h:1"); got != "h:1" {
		t.Errorf("env set: got %q", got)
	}
}

func TestCommandsRegistered(t *testing.T) {
	for _, path := range [][]string{
		{"topic", "create"}, {"topic", "list"}, {"topic", "describe"},
		{"topic", "delete"}, {"topic", "alter-config"},
		{"produce"}, {"consume"}, {"bench", "produce"}, {"bench", "consume"},
	} {
		cmd, _, err := rootCmd.Find(path)
		if err != nil || cmd.Name() != path[len(path)-1] {
			t.Errorf("command %v not found: %v", path, err)
		}
	}
	f := rootCmd.PersistentFlags().Lookup("bootstrap-server")
	if f == nil || f.Shorthand != "b" {
		t.Fatalf("--bootstrap-server/-b missing: %+v", f)
	}
}
