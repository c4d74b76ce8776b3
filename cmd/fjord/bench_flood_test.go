package main

import (
	"os"
	"testing"

	"github.com/fjordlog/fjord/internal/record"
)

// The flood's batch is one valid batch of about the asked size, without a
// producer id (so it may be sent again and again).
func TestFloodBatch(t *testing.T) {
	b, err := floodBatch(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	h, err := record.Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Size() != len(b) || len(b) < 900<<10 || len(b) > 1<<20 || h.ProducerID != -1 {
		t.Fatalf("batch of %d bytes, header %+v", len(b), h)
	}
}

// vmRSS reads this process's resident memory.
func TestVMRSS(t *testing.T) {
	kb, err := vmRSS(os.Getpid())
	if err != nil || kb <= 0 {
		t.Fatalf("VmRSS %d KiB, %v", kb, err)
	}
}
