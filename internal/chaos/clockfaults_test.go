package chaos

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClockSkewFaults checks that the clock faults are registered and that
// their skews stay within [1 s, maxClockSkew] in size, with both signs and
// the maximum among them.
func TestClockSkewFaults(t *testing.T) {
	fs, err := Faults([]string{"clock-skew", "clock-skew-controller"})
	if err != nil || len(fs) != 2 {
		t.Fatalf("Faults: %v, %v", fs, err)
	}
	r := rand.New(rand.NewPCG(21, 0))
	var neg, pos, maxed int
	for range 1000 {
		d := randomSkew(r)
		a := d.Abs()
		if a < time.Second || a > maxClockSkew {
			t.Fatalf("skew %s out of range", d)
		}
		if _, err := time.ParseDuration(d.String()); err != nil {
			t.Fatalf("skew %s does not parse back: %v", d, err)
		}
		switch {
		case a == maxClockSkew:
			maxed++
		case d < 0:
			neg++
		default:
			pos++
		}
	}
	if neg == 0 || pos == 0 || maxed == 0 {
		t.Errorf("1000 skews: %d negative, %d positive, %d at the maximum", neg, pos, maxed)
	}
	if signed(90*time.Second) != "+1m30s" || signed(-time.Hour) != "-1h0m0s" {
		t.Errorf("signed: %s, %s", signed(90*time.Second), signed(-time.Hour))
	}
}

// TestNodeEnv checks that Node.Start hands the node's Env to its process,
// on top of the harness's environment.
func TestNodeEnv(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake-fjord")
	script := "#!/bin/sh\necho \"skew=$" + clockSkewEnv + " path=${PATH:+set}\"\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	nd := &Node{ID: 1, LogDir: dir, bin: bin, Env: []string{clockSkewEnv + "=-90s"}}
	for _, want := range []string{"skew=-90s path=set", "skew= path=set"} {
		if err := nd.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-nd.proc().Done():
		case <-time.After(10 * time.Second):
			t.Fatal("fake node did not exit")
		}
		if got := strings.TrimSpace(nd.Tail(1)); got != want {
			t.Errorf("node printed %q, want %q", got, want)
		}
		nd.Env = nil
	}
}
