package main

import (
	"bytes"
	"testing"
)

func TestBrokerCordonGolden(t *testing.T) {
	var buf bytes.Buffer
	writeCordon(&buf, 3, true)
	writeCordon(&buf, 3, false)
	writeUnregistered(&buf, 3)
	checkGolden(t, "broker_cordon.golden", buf.Bytes())
}

func TestParseBrokerID(t *testing.T) {
	if id, err := parseBrokerID("7"); err != nil || id != 7 {
		t.Errorf("got %d %v", id, err)
	}
	for _, bad := range []string{"", "-1", "x", "99999999999"} {
		if _, err := parseBrokerID(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestBrokerDrainFlags(t *testing.T) {
	cmd, _, err := rootCmd.Find([]string{"broker", "drain"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"wait", "throttle", "unregister", "dry-run", "max-in-flight", "wait-timeout"} {
		if cmd.Flags().Lookup(f) == nil {
			t.Errorf("broker drain has no --%s", f)
		}
	}
	if err := cmd.Args(cmd, nil); err == nil {
		t.Error("broker drain accepted no broker id")
	}
}
