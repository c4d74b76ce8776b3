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
package quorum

import (
	"errors"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by calls on a closed quorum node.
var ErrClosed = errors.New("quorum: closed")
