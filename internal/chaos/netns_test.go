package chaos

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestNetFaultsNeedNetns: a run with a network fault and no namespaces is
// refused before any node starts.
func TestNetFaultsNeedNetns(t *testing.T) {
	faults, err := Faults([]string{"isolate-leader", "isolate-leader-clients", "isolate-follower",
		"isolate-controller", "partition-minority", "oneway-leader"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range faults {
		if !NeedsNet(f) {
			t.Errorf("%s does not need namespaces", f.Name())
		}
	}
	_, err = Run(context.Background(), Config{Bin: fjordBin, Dir: t.TempDir(), Faults: faults[:1], Profile: Profiles["safe"]})
	if err == nil || !strings.Contains(err.Error(), "--netns") {
		t.Errorf("Run without Netns: %v", err)
	}
}

// TestNetnsIsolateLeader cuts a leader off from the other nodes (clients
// still reach it) and a random minority from the majority, with every
// node in its own network namespace: nothing may be lost, and the
// namespaces must be gone afterwards.
func TestNetnsIsolateLeader(t *testing.T) {
	if err := NetnsAvailable(); err != nil {
		t.Skipf("skipping: network namespaces unavailable: %v", err)
	}
	faults, err := Faults([]string{"isolate-leader", "partition-minority"})
	if err != nil {
		t.Fatal(err)
	}
	rep := runChaos(t, Config{Duration: 14 * time.Second, Seed: 3, Faults: faults, Profile: Profiles["safe"], Netns: true,
		Quiet: 2 * time.Second, Hold: 6 * time.Second, Producers: 2, Consumers: 1, Group: true})
	if !rep.Result.Valid {
		t.Errorf("violations under the safe config: %v", rep.Result.Counts)
	}
	if len(rep.Recovery) == 0 {
		t.Error("no fault was injected")
	}
	for _, rc := range rep.Recovery {
		if rc.Err != "" {
			t.Errorf("fault %s: %s", rc.Fault, rc.Err)
		}
	}
}
