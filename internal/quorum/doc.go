// Package quorum replicates the metadata log: an ordered log of opaque
// entries that every controller agrees on. It knows nothing of what the
// entries mean.
//
// Raft is the quorum of several controllers (or one): go.etcd.io/raft's
// RawNode driven by one goroutine as that package prescribes (persist,
// send, apply, Advance), with an fsynced, CRC-checked write-ahead log,
// snapshots of the state machine that bound it, and a TCP transport that
// shares the controller listener with the Kafka protocol (TransportMagic).
// Committed entries reach a StateMachine in log order, each with its raft
// index, which is the metadata offset.
//
// Membership is dynamic (KIP-853 with raft's configuration changes;
// members.go, reconfig.go). RaftConfig.Voters (controller.quorum.voters)
// is only the bootstrap set: the voters a brand new cluster starts with,
// and where to find nodes whose endpoints the log does not say. From then
// on the members (voters, and learners being added) and their endpoints
// are what the log says: each configuration change entry carries the
// endpoints of the nodes it adds, and snapshots carry all of them, so the
// membership survives restarts and compaction. A brand new node that is
// not among the bootstrap voters does not bootstrap: it starts empty and
// waits for the leader to add it (AddVoter: as a learner that receives the
// log, promoted to voter once caught up), as a Kafka controller formatted
// without initial controllers does. RemoveVoter removes a dead or
// retiring voter, the leader included (it then hands leadership over); a
// live one stays a learner, following the log. A member whose controller
// listener moves keeps the endpoint the log gives it until UpdateVoter
// records the new one (controller.quorum.voters no longer decides).
//
// The WAL and snapshot files are reached through RaftConfig.FS (vfs.FS,
// vfs.Default in production); crash_test.go runs members on
// vfs.NewStrictMem and crashes them.
package quorum

import (
	"errors"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by calls on a closed quorum node.
var ErrClosed = errors.New("quorum: closed")
