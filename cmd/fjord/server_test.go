package main

import (
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestClockSkew checks FJORD_CLOCK_SKEW's parsing: empty is no skew, Go
// durations of either sign are taken, anything else is an error naming the
// variable.
func TestClockSkew(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 0, " ": 0, "-90s": -90 * time.Second, "2h": 2 * time.Hour, " 1m30s ": 90 * time.Second} {
		got, err := clockSkew(v)
		if err != nil || got != want {
			t.Errorf("clockSkew(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"90", "soon", "1x"} {
		if _, err := clockSkew(v); err == nil || !strings.Contains(err.Error(), clockSkewEnv) {
			t.Errorf("clockSkew(%q): err %v, want one naming %s", v, err, clockSkewEnv)
		}
	}
}

// A node runs the collector at serverGCPercent unless GOGC is set.
func TestServerGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	setServerGC("")
	if got := debug.SetGCPercent(100); got != serverGCPercent {
		t.Fatalf("GOGC unset: collector target %d, want %d", got, serverGCPercent)
	}
	setServerGC("50") // the runtime applied GOGC=50 itself; leave it
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC set: collector target changed to %d", got)
	}
}
