package console

import (
	"strings"
	"testing"
	"time"
)

func TestHumanBytes(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{-1, "?"}, {0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {10 << 20, "10.0 MiB"}, {3 << 30, "3.0 GiB"}} {
		if got := humanBytes(c.n); got != c.want {
			t.Errorf("humanBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestHumanRate(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 4: "4", 2.25: "2.2", 12345: "12.3k", 2.5e6: "2.5M"} {
		if got := humanRate(v); got != want {
			t.Errorf("humanRate(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestIDList(t *testing.T) {
	if got := idList(nil); got != "—" {
		t.Errorf("idList(nil) = %q", got)
	}
	if got := idList([]int32{3, 1, 2}); got != "3, 1, 2" {
		t.Errorf("idList keeps order: %q", got)
	}
}

func TestPartitionLag(t *testing.T) {
	for _, c := range []struct {
		name                  string
		committed, start, end int64
		want                  int64
	}{
		{"committed within the log", 5, 0, 20, 15},
		{"caught up", 20, 0, 20, 0},
		{"no commit counts from the log start", -1, 7, 20, 13},
		{"commit below the log start", 3, 10, 20, 10},
		{"commit past the end", 25, 0, 20, 0},
		{"unknown end", 5, 0, -1, -1},
		{"unknown start, no commit", -1, -1, 20, 20},
	} {
		if got := partitionLag(c.committed, c.start, c.end); got != c.want {
			t.Errorf("%s: partitionLag(%d, %d, %d) = %d, want %d", c.name, c.committed, c.start, c.end, got, c.want)
		}
	}
}

func TestRenderPayload(t *testing.T) {
	for _, c := range []struct {
		name, mode string
		in         []byte
		null       bool
		format     string
		contains   string
	}{
		{"null", "", nil, true, "null", ""},
		{"empty", "", []byte{}, false, "empty", ""},
		{"json object pretty-printed", "", []byte(`{"a":1,"b":[1,2]}`), false, "json", "{\n  \"a\": 1,"},
		{"json array", "", []byte(` [1, 2] `), false, "json", "[\n  1,"},
		{"invalid json is text", "", []byte(`{"a":`), false, "text", `{"a":`},
		{"plain text", "", []byte("hello\tworld\n"), false, "text", "hello\tworld"},
		{"utf-8 text", "", []byte("fjörð"), false, "text", "fjörð"},
		{"binary as hex", "", []byte{0, 1, 0xff}, false, "hex", "00 01 ff"},
		{"control characters as hex", "", []byte("a\x07b"), false, "hex", "61 07 62"},
		{"forced hex", "hex", []byte("hi"), false, "hex", "68 69"},
		{"forced text keeps json raw", "text", []byte(`{"a":1}`), false, "text", `{"a":1}`},
		{"forced text of binary", "text", []byte{'a', 0xff}, false, "text", "a\uFFFD"},
	} {
		v := renderPayload(c.in, c.null, c.mode)
		if v.Format != c.format || !strings.Contains(v.Text, c.contains) || v.Cut {
			t.Errorf("%s: got %+v, want format %s containing %q", c.name, v, c.format, c.contains)
		}
	}
}

func TestRenderPayloadCutsLargeValues(t *testing.T) {
	big := []byte(strings.Repeat("x", 10<<20))
	v := renderPayload(big, false, "")
	if !v.Cut || len(v.Text) != maxShown || v.Size != 10<<20 || v.Format != "text" {
		t.Errorf("10 MB text: cut %v, %d bytes shown, size %d, format %s", v.Cut, len(v.Text), v.Size, v.Format)
	}
	json := []byte(`{"k":"` + strings.Repeat("y", maxShown) + `"}`)
	if v := renderPayload(json, false, ""); !v.Cut || v.Format != "text" {
		t.Errorf("large JSON: want the cut raw text, got format %s cut %v", v.Format, v.Cut)
	}
	// A multi-byte rune cut by maxShown still renders as text.
	runes := []byte(strings.Repeat("ö", maxShown))
	if v := renderPayload(runes, false, ""); v.Format != "text" {
		t.Errorf("cut UTF-8: format %s, want text", v.Format)
	}
}

func TestSparkline(t *testing.T) {
	now := time.Now()
	if got := string(sparkline(nil, 100, 20)); strings.Contains(got, "polyline") {
		t.Errorf("no points drew a line: %s", got)
	}
	pts := []ratePoint{{now, 0}, {now, 5}, {now, 10}}
	got := string(sparkline(pts, 102, 24))
	if !strings.Contains(got, `points="1.0,23.0 51.0,13.0 101.0,3.0"`) {
		t.Errorf("sparkline = %s", got)
	}
	flat := string(sparkline([]ratePoint{{now, 0}, {now, 0}}, 102, 24))
	if !strings.Contains(flat, `points="1.0,23.0 101.0,23.0"`) {
		t.Errorf("flat zero sparkline = %s", flat)
	}
}

func TestClampReset(t *testing.T) {
	for _, c := range []struct {
		target, start, end, want int64
		clamped                  bool
	}{
		{-2, 5, 20, 5, false}, {-1, 5, 20, 20, false}, {10, 5, 20, 10, false},
		{2, 5, 20, 5, true}, {1 << 62, 5, 20, 20, true},
	} {
		got, clamped := clampReset(c.target, c.start, c.end)
		if got != c.want || clamped != c.clamped {
			t.Errorf("clampReset(%d, %d, %d) = %d, %v; want %d, %v", c.target, c.start, c.end, got, clamped, c.want, c.clamped)
		}
	}
}

func TestParseConfigLines(t *testing.T) {
	got, err := parseConfigLines("retention.ms=1000\n cleanup.policy = compact ,segment.bytes=1048576\n\n")
	if err != nil || len(got) != 3 || *got["cleanup.policy"] != "compact" || *got["retention.ms"] != "1000" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"novalue", "=x", "a=1\na=2"} {
		if _, err := parseConfigLines(bad); err == nil {
			t.Errorf("parseConfigLines(%q) accepted", bad)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	for in, want := range map[string]int64{
		"1700000000000":        1700000000000,
		"2026-12-07T10:00:00Z": time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC).UnixMilli(),
		"2026-12-07":           time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC).UnixMilli(),
	} {
		if got, err := parseTimestamp(in); err != nil || got != want {
			t.Errorf("parseTimestamp(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-5"} {
		if _, err := parseTimestamp(bad); err == nil {
			t.Errorf("parseTimestamp(%q) accepted", bad)
		}
	}
}
