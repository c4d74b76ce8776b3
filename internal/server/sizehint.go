package server

import "github.com/twmb/franz-go/pkg/kmsg"

// Per-element allowances of responseSizeHint: generous upper bounds of
// the encoded fields around the record bytes (a partition's index, error
// code, offsets, aborted transactions header, lengths, tags).
const (
	// responseHeaderMax is the frame's size field, the correlation id and
	// the response header's empty tagged fields.
	responseHeaderMax = 4 + 4 + 1

	hintPerResponse  = 64
	hintPerTopic     = 32
	hintPerPartition = 128
	hintPerAborted   = 20
	hintPerNode      = 32
)

// responseSizeHint returns an upper-bound estimate of resp's encoded size
// when it carries record bytes (Fetch), 0 otherwise. writeResponse sizes
// its buffer from it, so a large fetch response is encoded into one
// allocation instead of growing by doubling (which copied every byte
// about twice and was the largest CPU cost of consuming; issue 12).
func responseSizeHint(resp kmsg.Response) int {
	var f *kmsg.FetchResponse
	switch r := resp.(type) {
	case *kmsg.FetchResponse:
		f = r
	case *FetchResponse:
		f = r.FetchResponse
	default:
		return 0
	}
	n := hintPerResponse
	for _, e := range f.Brokers {
		n += hintPerNode + len(e.Host) + len(derefOr(e.Rack))
	}
	for i := range f.Topics {
		t := &f.Topics[i]
		n += hintPerTopic + len(t.Topic)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			n += hintPerPartition + len(p.RecordBatches) + hintPerAborted*len(p.AbortedTransactions)
		}
	}
	return n
}

func derefOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
