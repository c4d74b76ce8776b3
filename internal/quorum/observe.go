package quorum

import (
	"errors"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Observers: broker-only nodes are not Raft members. They read the
// committed log from any voter (ReadCommitted) and replay it into their own
// state machine, as Kafka's brokers fetch the metadata log as observers.

// Committed is what ReadCommitted returns: either a snapshot (when the
// requested index was compacted away) or entries, each with its index.
// Entries that carry no state-machine data (Raft's own empty and
// configuration entries) have nil Data and keep the indexes contiguous.
type Committed struct {
	Snapshot      []byte // non-nil: restore this state, taken at SnapshotIndex
	SnapshotIndex uint64
	Entries       []Entry
}

// Entry is one committed log entry.
type Entry struct {
	Index uint64
	Data  []byte
}

// ReadCommitted returns committed and applied entries from index from on,
// at most about maxBytes, or the latest snapshot when from is no longer in
// the log. An empty result means nothing is committed at from yet.
func (r *Raft) ReadCommitted(from uint64, maxBytes uint64) (Committed, error) {
	applied := r.AppliedIndex()
	first, err := r.storage.FirstIndex()
	if err != nil {
		return Committed{}, err
	}
	if from < first {
		return r.readSnapshot()
	}
	if from > applied {
		return Committed{}, nil
	}
	ents, err := r.storage.Entries(from, applied+1, maxBytes)
	if errors.Is(err, raft.ErrCompacted) {
		return r.readSnapshot()
	}
	if err != nil {
		return Committed{}, err
	}
	out := Committed{Entries: make([]Entry, len(ents))}
	for i, e := range ents {
		out.Entries[i] = Entry{Index: e.Index}
		if e.Type == raftpb.EntryNormal && len(e.Data) > 0 {
			out.Entries[i].Data = e.Data
		}
	}
	return out, nil
}

func (r *Raft) readSnapshot() (Committed, error) {
	snap, err := r.storage.Snapshot()
	if err != nil {
		return Committed{}, err
	}
	_, data, err := unwrapSnapshot(snap.Data)
	if err != nil {
		return Committed{}, err
	}
	if data == nil {
		data = []byte{}
	}
	return Committed{Snapshot: data, SnapshotIndex: snap.Metadata.Index}, nil
}
