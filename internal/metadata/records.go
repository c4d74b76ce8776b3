// Package metadata defines the cluster metadata: the typed records the
// controller writes to the metadata log, the immutable Image that replaying
// them builds, and the Delta between two images that brokers reconcile.
//
// The package is pure: no IO, no clocks, no goroutines. Replaying the same
// records in the same order always builds the same Image.
package metadata

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Record is one metadata record. Each concrete type below is a Record.
type Record interface {
	recordType() string
}

// Endpoint is one advertised listener of a broker.
type Endpoint struct {
	Name string `json:"name"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

// RegisterBroker records a broker's registration. The broker's epoch is
// the metadata offset of the entry holding this record, unless Epoch is
// set (snapshots carry the original epoch).
type RegisterBroker struct {
	ID          int32      `json:"id"`
	Epoch       int64      `json:"epoch,omitempty"`
	Incarnation string     `json:"incarnation,omitempty"`
	Endpoints   []Endpoint `json:"endpoints"`
	Rack        string     `json:"rack,omitempty"`
	Fenced      bool       `json:"fenced"`
}

// BrokerRegistrationChange fences, unfences or marks a broker in controlled
// shutdown. Nil fields are unchanged.
type BrokerRegistrationChange struct {
	ID                   int32 `json:"id"`
	Epoch                int64 `json:"epoch"`
	Fenced               *bool `json:"fenced,omitempty"`
	InControlledShutdown *bool `json:"inControlledShutdown,omitempty"`
}

// UnregisterBroker removes a broker from the cluster.
type UnregisterBroker struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

// Topic creates a topic.
type Topic struct {
	Name string `json:"name"`
	ID   UUID   `json:"id"`
}

// Partition creates a partition of an existing topic.
type Partition struct {
	TopicID        UUID    `json:"topicId"`
	Partition      int32   `json:"partition"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	ELR            []int32 `json:"elr,omitempty"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leaderEpoch"`
	PartitionEpoch int32   `json:"partitionEpoch"`
	// LastKnownELR is KIP-966's last known leader of a partition that no
	// ISR or ELR member can lead (PartitionImage.LastKnownELR).
	LastKnownELR []int32 `json:"lastKnownElr,omitempty"`
	// AddingReplicas and RemovingReplicas describe a reassignment in
	// progress (KIP-455): Replicas is then the target followed by the
	// replicas being removed.
	AddingReplicas   []int32 `json:"addingReplicas,omitempty"`
	RemovingReplicas []int32 `json:"removingReplicas,omitempty"`
}

// PartitionChange changes a partition's leader, ISR or replicas. Nil
// fields are unchanged. A leader change bumps the leader epoch; any change
// bumps the partition epoch.
type PartitionChange struct {
	TopicID   UUID    `json:"topicId"`
	Partition int32   `json:"partition"`
	Leader    *int32  `json:"leader,omitempty"`
	ISR       []int32 `json:"isr,omitempty"`
	// ELR, if not nil, replaces the eligible leader replicas (an empty
	// list clears them).
	ELR      *[]int32 `json:"elr,omitempty"`
	Replicas []int32  `json:"replicas,omitempty"`
	// Unclean marks a leader chosen outside the ISR.
	Unclean bool `json:"unclean,omitempty"`
	// LastKnownELR, if not nil, replaces the last known ELR (an empty
	// list clears it).
	LastKnownELR *[]int32 `json:"lastKnownElr,omitempty"`
	// AddingReplicas and RemovingReplicas, if not nil, replace the
	// reassignment's replicas being added and removed (empty lists clear
	// them, ending the reassignment).
	AddingReplicas   *[]int32 `json:"addingReplicas,omitempty"`
	RemovingReplicas *[]int32 `json:"removingReplicas,omitempty"`
}

// RemoveTopic deletes a topic and its partitions.
type RemoveTopic struct {
	TopicID UUID `json:"topicId"`
}

// Resource types for Config records, numbered as in the Kafka protocol.
const (
	ResourceTopic  int8 = 2
	ResourceBroker int8 = 4
)

// Config sets (Value non-nil) or removes (Value nil) a dynamic config of a
// topic or broker. ResourceName "" with ResourceBroker is the cluster-wide
// broker default.
type Config struct {
	ResourceType int8    `json:"resourceType"`
	ResourceName string  `json:"resourceName"`
	Name         string  `json:"name"`
	Value        *string `json:"value,omitempty"`
}

// ProducerIDs records a block of producer ids handed to a broker.
type ProducerIDs struct {
	BrokerID    int32 `json:"brokerId"`
	BrokerEpoch int64 `json:"brokerEpoch"`
	NextID      int64 `json:"nextId"`
}

// ClusterID fixes the cluster's id; it is the first record of a new log.
type ClusterID struct {
	ID string `json:"id"`
}

func (RegisterBroker) recordType() string           { return "RegisterBroker" }
func (BrokerRegistrationChange) recordType() string { return "BrokerRegistrationChange" }
func (UnregisterBroker) recordType() string         { return "UnregisterBroker" }
func (Topic) recordType() string                    { return "Topic" }
func (Partition) recordType() string                { return "Partition" }
func (PartitionChange) recordType() string          { return "PartitionChange" }
func (RemoveTopic) recordType() string              { return "RemoveTopic" }
func (Config) recordType() string                   { return "Config" }
func (ProducerIDs) recordType() string              { return "ProducerIds" }
func (ClusterID) recordType() string                { return "ClusterId" }

// ErrUnknownRecord is returned when decoding a record of an unknown type.
var ErrUnknownRecord = errors.New("metadata: unknown record type")

// RecordVersion is the version of the record formats this code writes.
// Every record carries it ("v"); records written before versions existed
// read as version 0, whose layout version 1 kept. A record of a newer
// version than a node knows is not guessed at: decoding it fails with
// ErrNewerVersion and the node stops (a newer release wrote the log; run
// that release here too).
//
// Version history: 0 (no "v"): the formats of the first releases; 1: the
// same fields, now versioned.
const RecordVersion = 1

// ErrNewerVersion is returned for a record or snapshot written in a
// version newer than this code reads.
var ErrNewerVersion = errors.New("metadata: written by a newer version")

type envelope struct {
	Type    string          `json:"type"`
	Version int16           `json:"v,omitempty"`
	Data    json.RawMessage `json:"data"`
}

// Encode serializes one record.
func Encode(r Record) ([]byte, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return json.Marshal(envelope{Type: r.recordType(), Version: RecordVersion, Data: data})
}

// EncodeBatch serializes the records of one metadata log entry. The
// records of an entry are applied atomically: all or none.
func EncodeBatch(recs []Record) ([]byte, error) {
	out := make([]json.RawMessage, len(recs))
	for i, r := range recs {
		b, err := Encode(r)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return json.Marshal(out)
}

// DecodeBatch parses an entry produced by EncodeBatch.
func DecodeBatch(b []byte) ([]Record, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("metadata: decode batch: %w", err)
	}
	recs := make([]Record, len(raw))
	for i, r := range raw {
		rec, err := Decode(r)
		if err != nil {
			return nil, err
		}
		recs[i] = rec
	}
	return recs, nil
}

// Decode parses one record produced by Encode.
func Decode(b []byte) (Record, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("metadata: decode: %w", err)
	}
	if env.Version > RecordVersion {
		return nil, fmt.Errorf("%w: %s record of version %d (this node reads up to %d)", ErrNewerVersion, env.Type, env.Version, RecordVersion)
	}
	r := newRecord(env.Type)
	if r == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownRecord, env.Type)
	}
	if err := json.Unmarshal(env.Data, r); err != nil {
		return nil, fmt.Errorf("metadata: decode %s: %w", env.Type, err)
	}
	return deref(r), nil
}

func newRecord(t string) any {
	switch t {
	case "RegisterBroker":
		return &RegisterBroker{}
	case "BrokerRegistrationChange":
		return &BrokerRegistrationChange{}
	case "UnregisterBroker":
		return &UnregisterBroker{}
	case "Topic":
		return &Topic{}
	case "Partition":
		return &Partition{}
	case "PartitionChange":
		return &PartitionChange{}
	case "RemoveTopic":
		return &RemoveTopic{}
	case "Config":
		return &Config{}
	case "ProducerIds":
		return &ProducerIDs{}
	case "ClusterId":
		return &ClusterID{}
	case "AccessControlEntry":
		return &AccessControlEntry{}
	case "RemoveAccessControlEntry":
		return &RemoveAccessControlEntry{}
	case "UserScramCredential":
		return &ScramCredential{}
	case "RemoveUserScramCredential":
		return &RemoveScramCredential{}
	case "ClientQuota":
		return &ClientQuota{}
	}
	return nil
}

func deref(r any) Record {
	switch v := r.(type) {
	case *RegisterBroker:
		return *v
	case *BrokerRegistrationChange:
		return *v
	case *UnregisterBroker:
		return *v
	case *Topic:
		return *v
	case *Partition:
		return *v
	case *PartitionChange:
		return *v
	case *RemoveTopic:
		return *v
	case *Config:
		return *v
	case *ProducerIDs:
		return *v
	case *ClusterID:
		return *v
	case *AccessControlEntry:
		return *v
	case *RemoveAccessControlEntry:
		return *v
	case *ScramCredential:
		return *v
	case *RemoveScramCredential:
		return *v
	case *ClientQuota:
		return *v
	}
	return nil
}
