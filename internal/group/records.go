package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/fjordlog/fjord/internal/metadata"
	"time"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record key versions of __consumer_offsets: 0 and 1 are offset commits, 2
// is group metadata. Newer versions (KIP-848 records) are ignored.
const (
	offsetKeyVersion = 1
	groupKeyVersion  = 2
	// Values: OffsetCommitValue v3 (v1 when an explicit expiry is set) and
	// GroupMetadataValue v3, the newest non-flexible versions, which lag
	// tools such as Burrow read.
	offsetValueVersion = 3
	groupValueVersion  = 3
)

// ErrBadRecord is returned by LoadBatch for a record that does not decode.
var ErrBadRecord = errors.New("group: malformed __consumer_offsets record")

func offsetKey(group string, tp topicPartition) []byte {
	k := kmsg.NewOffsetCommitKey()
	k.Version, k.Group, k.Topic, k.Partition = offsetKeyVersion, group, tp.topic, tp.partition
	return k.AppendTo(nil)
}

func offsetValue(o offset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	if o.expireMs >= 0 {
		v.Version, v.ExpireTimestamp = 1, o.expireMs
	}
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.offset, o.leaderEpoch, o.metadata, o.commitMs
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.NewGroupMetadataKey()
	k.Version, k.Group = groupKeyVersion, group
	return k.AppendTo(nil)
}

// groupValue encodes g with the given assignments; members carry the
// metadata of the selected protocol only, as in Kafka.
func groupValue(g *group, assignment map[string][]byte) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	if g.protocolType != nil {
		v.ProtocolType = *g.protocolType
	}
	v.Generation, v.Protocol = g.generation, g.protocol
	if g.leader != "" {
		leader := g.leader
		v.Leader = &leader
	}
	if !g.stateTime.IsZero() {
		v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	}
	for _, m := range g.memberList() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID, vm.ClientID, vm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis, vm.SessionTimeoutMillis = m.rebalanceTimeout, m.sessionTimeout
		vm.Subscription, vm.Assignment = m.metadata(*g.protocol), assignment[m.id]
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// GroupForKey returns the group a __consumer_offsets record key belongs
// to; ok is false for keys this package does not know.
func GroupForKey(key []byte) (group string, ok bool) {
	switch keyVersion(key) {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if k.ReadFrom(key) == nil {
			return k.Group, true
		}
	case groupKeyVersion:
		var k kmsg.GroupMetadataKey
		if k.ReadFrom(key) == nil {
			return k.Group, true
		}
	}
	return "", false
}

func keyVersion(key []byte) int {
	if len(key) < 2 {
		return -1
	}
	return int(int16(binary.BigEndian.Uint16(key)))
}

// LoadedBatch is one batch of __consumer_offsets as LoadBatch replays it:
// a data batch's records, or a control batch's transaction marker.
type LoadedBatch struct {
	// Records are the batch's records in offset order.
	Records []LoadedRecord
	// Producer is set for a transactional data batch: its offset
	// commits are that producer's pending offsets until its marker.
	Producer *Producer
	// Marker is set for a control batch holding a transaction marker
	// (Records is then empty). Other control batches are not loaded.
	Marker *record.Marker
}

// LoadedRecord is one record (nil Value: tombstone) and its log offset.
type LoadedRecord struct {
	Offset     int64
	Key, Value []byte
}

// LoadBatch replays one batch of __consumer_offsets while becoming
// coordinator; call it for every batch in offset order, from the log
// start to the log end, before serving requests. now starts the loaded
// members' session timers. Unknown key versions are skipped; malformed
// records change nothing and make LoadBatch return an error wrapping
// ErrBadRecord once the batch's other records are loaded. A transaction
// still open at the end of the log keeps its offsets pending.
func (c *Coordinator) LoadBatch(now time.Time, b LoadedBatch) error {
	c.now = now
	if b.Marker != nil {
		c.endTxn(b.Marker.ProducerID, b.Marker.Commit)
		return nil
	}
	var errs []error
	for _, rec := range b.Records {
		if err := c.loadRecord(rec, b.Producer); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// loadRecord replays one record; producer is set for a transactional one.
func (c *Coordinator) loadRecord(rec LoadedRecord, producer *Producer) error {
	switch keyVersion(rec.Key) {
	case 0, 1:
		return c.loadOffset(rec, producer)
	case groupKeyVersion:
		return c.loadGroup(rec.Key, rec.Value)
	case -1:
		return fmt.Errorf("%w: key of %d bytes at offset %d", ErrBadRecord, len(rec.Key), rec.Offset)
	}
	return nil
}

// loadOffset replays an offset commit (or its tombstone, which also drops
// the partition's pending transactional offsets, as in Kafka).
func (c *Coordinator) loadOffset(rec LoadedRecord, producer *Producer) error {
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(rec.Key); err != nil {
		return fmt.Errorf("%w: offset key at offset %d: %v", ErrBadRecord, rec.Offset, err)
	}
	tp := topicPartition{k.Topic, k.Partition}
	if rec.Value == nil {
		if g := c.groups[k.Group]; g != nil {
			delete(g.offsets, tp)
			g.dropTxnOffsets(tp, rec.Offset)
			c.pruneLoaded(g)
		}
		return nil
	}
	o, err := decodeOffset(rec.Value)
	if err != nil {
		return fmt.Errorf("%w: offset value at offset %d: %v", ErrBadRecord, rec.Offset, err)
	}
	o.logOffset = rec.Offset
	g := c.loadedGroup(k.Group)
	if producer != nil {
		c.addTxnOffset(g, producer.ID, tp, o)
	} else {
		g.offsets[tp] = o
	}
	return nil
}

func decodeOffset(value []byte) (offset, error) {
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(value); err != nil {
		return offset{}, err
	}
	o := offset{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitMs: v.CommitTimestamp, expireMs: -1}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		o.expireMs = v.ExpireTimestamp
	}
	return o, nil
}

func (c *Coordinator) loadedGroup(id string) *group {
	g := c.groups[id]
	if g == nil {
		g = newGroup(id)
		c.groups[id] = g
	}
	return g
}

// pruneLoaded forgets a group with neither metadata nor offsets.
func (c *Coordinator) pruneLoaded(g *group) {
	if g.generation == 0 && g.protocolType == nil && len(g.members) == 0 && len(g.offsets) == 0 && !g.openTxn() {
		delete(c.groups, g.id)
	}
}

func (c *Coordinator) loadGroup(key, value []byte) error {
	var k kmsg.GroupMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return fmt.Errorf("%w: group key: %v", ErrBadRecord, err)
	}
	var v kmsg.GroupMetadataValue
	if value != nil {
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("%w: group value: %v", ErrBadRecord, err)
		}
	}
	old := c.loadedGroup(k.Group)
	g := newGroup(k.Group)
	g.offsets, g.txnOffsets = old.offsets, old.txnOffsets
	c.groups[k.Group] = g
	if value == nil {
		c.pruneLoaded(g)
		return nil
	}
	c.applyGroupValue(g, &v)
	return nil
}

// applyGroupValue rebuilds g's membership from a metadata record: Empty
// without members, Stable with them.
func (c *Coordinator) applyGroupValue(g *group, v *kmsg.GroupMetadataValue) {
	g.generation, g.protocol = v.Generation, v.Protocol
	if v.ProtocolType != "" {
		pt := v.ProtocolType
		g.protocolType = &pt
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	if v.CurrentStateTimestamp >= 0 && v.Version >= 2 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
	}
	g.state = stateEmpty
	if g.protocol == nil {
		return // members need a selected protocol; Kafka never writes them without
	}
	for _, vm := range v.Members {
		g.loadMember(vm, v.Version)
	}
	if len(g.members) > 0 {
		g.state = stateStable
	}
	for _, m := range g.members {
		c.heartbeat(m)
	}
}

func (g *group) loadMember(vm kmsg.GroupMetadataValueMember, version int16) {
	m := &member{id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
		rebalanceTimeout: vm.RebalanceTimeoutMillis, sessionTimeout: vm.SessionTimeoutMillis,
		assignment: vm.Assignment}
	if version == 0 {
		m.rebalanceTimeout = m.sessionTimeout
	}
	if g.protocolType != nil {
		m.protocolType = *g.protocolType
	}
	m.protocols = []protocol{{name: *g.protocol, metadata: vm.Subscription}}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
}

// PartitionFor is the __consumer_offsets partition of groupID: Kafka's
// Utils.abs(groupId.hashCode()) % numPartitions, where hashCode is Java's
// String.hashCode over UTF-16 code units and abs(MinInt32) is 0.
func PartitionFor(groupID string, numPartitions int32) int32 {
	return metadata.CoordinatorPartition(groupID, numPartitions)
}
