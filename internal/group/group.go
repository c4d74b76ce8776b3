package group

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// state is a classic group's state, named as Kafka names it.
type state int8

const (
	stateEmpty state = iota
	statePreparing
	stateCompleting
	stateStable
	stateDead
)

func (s state) String() string {
	return [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}[s]
}

// waiter is a request parked until the group answers it.
type waiter struct {
	id      RequestID
	version int16
}

type protocol struct {
	name     string
	metadata []byte
}

// member is one member of a group.
type member struct {
	id               string
	instanceID       *string // static membership (KIP-345)
	clientID         string
	clientHost       string
	rebalanceTimeout int32 // ms
	sessionTimeout   int32 // ms
	protocolType     string
	protocols        []protocol
	assignment       []byte
	join             *waiter   // parked JoinGroup
	sync             *waiter   // parked SyncGroup
	isNew            bool      // joined but not yet through a generation
	deadline         time.Time // session (or new-member) expiry; zero: none
}

func (m *member) metadata(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

func (m *member) supports(name string) bool {
	for _, p := range m.protocols {
		if p.name == name {
			return true
		}
	}
	return false
}

// matches reports whether protocols equal the member's, in order.
func (m *member) matches(ps []protocol) bool {
	return slices.EqualFunc(m.protocols, ps, func(a, b protocol) bool {
		return a.name == b.name && string(a.metadata) == string(b.metadata)
	})
}

type topicPartition struct {
	topic     string
	partition int32
}

// offset is one committed offset.
type offset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitMs    int64
	expireMs    int64 // explicit expiry of OffsetCommit v2-v4; -1 none
	// logOffset is the offset in __consumer_offsets of the record that
	// wrote it; -1 until that record is durable. A transaction's commit
	// replaces a committed offset only if written after it (txn.go).
	logOffset int64
}

// group is one classic consumer group.
type group struct {
	id           string
	state        state
	stateTime    time.Time // when state last changed; zero: unknown
	generation   int32
	protocolType *string
	protocol     *string
	leader       string
	members      map[string]*member
	order        []string          // member ids in join order
	static       map[string]string // instance id → member id
	pendingIDs   map[string]time.Time
	pendingSync  map[string]bool
	syncDeadline time.Time
	joinDeadline time.Time
	// Initial rebalance delay (Kafka's InitialDelayedJoin).
	initialDelay     bool
	curDelay         time.Duration
	initialRemaining time.Duration
	newMemberAdded   bool

	offsets map[topicPartition]offset
	// pendingCommits lists, per partition, the batches carrying commits
	// (plain or transactional) not yet durable.
	pendingCommits map[topicPartition][]BatchID
	// txnOffsets holds, per producer id, the offsets its open transaction
	// committed in durable records, awaiting the transaction's marker;
	// never an empty map.
	txnOffsets map[int64]map[topicPartition]offset
	// txnWrites counts the TxnOffsetCommit batches not yet durable.
	txnWrites int
}

func newGroup(id string) *group {
	return &group{
		id:             id,
		members:        map[string]*member{},
		static:         map[string]string{},
		pendingIDs:     map[string]time.Time{},
		pendingSync:    map[string]bool{},
		offsets:        map[topicPartition]offset{},
		pendingCommits: map[topicPartition][]BatchID{},
		txnOffsets:     map[int64]map[topicPartition]offset{},
	}
}

func (g *group) transition(s state, now time.Time) {
	g.state = s
	g.stateTime = now
}

// memberList returns the members in join order.
func (g *group) memberList() []*member {
	ms := make([]*member, 0, len(g.order))
	for _, id := range g.order {
		ms = append(ms, g.members[id])
	}
	return ms
}

// add puts m into the group, waiting on join.
func (g *group) add(m *member, join *waiter) {
	if len(g.members) == 0 {
		pt := m.protocolType
		g.protocolType = &pt
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	m.join = join
	delete(g.pendingIDs, m.id)
}

// remove drops member id; the caller has answered its parked requests.
func (g *group) remove(id string) {
	m := g.members[id]
	delete(g.members, id)
	g.order = slices.DeleteFunc(g.order, func(s string) bool { return s == id })
	if m.instanceID != nil && g.static[*m.instanceID] == id {
		delete(g.static, *m.instanceID)
	}
	delete(g.pendingSync, id)
	if g.leader == id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
}

// replaceStatic moves static member oldID to newID, keeping its place.
func (g *group) replaceStatic(oldID, newID string) *member {
	m := g.members[oldID]
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.order[slices.Index(g.order, oldID)] = newID
	g.static[*m.instanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	return m
}

// staticMember returns the member id registered for instance, if any.
func (g *group) staticMember(instance *string) (string, bool) {
	if instance == nil {
		return "", false
	}
	id, ok := g.static[*instance]
	return id, ok
}

// supports reports whether a member with this protocol type and these
// protocols may join (Kafka's supportsProtocols).
func (g *group) supports(ptype string, ps []protocol) bool {
	if g.state == stateEmpty {
		return ptype != "" && len(ps) > 0
	}
	if g.protocolType == nil || *g.protocolType != ptype {
		return false
	}
	for _, p := range ps {
		if g.allSupport(p.name) {
			return true
		}
	}
	return false
}

func (g *group) allSupport(name string) bool {
	for _, m := range g.members {
		if !m.supports(name) {
			return false
		}
	}
	return true
}

// selectProtocol picks the protocol all members support with the most
// first-choice votes; ties go to the leader's preference order.
func (g *group) selectProtocol() string {
	pref := g.members[g.leader]
	if pref == nil {
		pref = g.members[g.order[0]]
	}
	var candidates []string
	for _, p := range pref.protocols {
		if g.allSupport(p.name) {
			candidates = append(candidates, p.name)
		}
	}
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.name) {
				votes[p.name]++
				break
			}
		}
	}
	best := ""
	for _, name := range candidates {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

// allJoined reports whether every member has a parked JoinGroup and no
// MEMBER_ID_REQUIRED member is outstanding.
func (g *group) allJoined() bool {
	for _, m := range g.members {
		if m.join == nil {
			return false
		}
	}
	return len(g.pendingIDs) == 0
}

// electJoinedLeader makes sure the leader is a member that rejoined; false
// when no member rejoined (Kafka's maybeElectNewJoinedLeader).
func (g *group) electJoinedLeader() bool {
	if g.leader == "" {
		return false
	}
	if g.members[g.leader].join != nil {
		return true
	}
	for _, m := range g.memberList() {
		if m.join != nil {
			g.leader = m.id
			return true
		}
	}
	return false
}

// rebalanceTimeout is the largest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var ms int32
	for _, m := range g.members {
		ms = max(ms, m.rebalanceTimeout)
	}
	return time.Duration(ms) * time.Millisecond
}

func (g *group) isConsumer() bool {
	return g.protocolType != nil && *g.protocolType == "consumer"
}

// subscribedTopics returns the union of the consumer members' subscribed
// topics; ok is false when unknown (not a consumer group, or metadata that
// does not parse).
func (g *group) subscribedTopics() (map[string]bool, bool) {
	if !g.isConsumer() {
		return nil, false
	}
	topics := map[string]bool{}
	if len(g.members) == 0 {
		return topics, true
	}
	if g.protocol == nil {
		return nil, false
	}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadata(*g.protocol)); err != nil {
			return nil, false
		}
		for _, t := range meta.Topics {
			topics[t] = true
		}
	}
	return topics, true
}

// hasPending reports whether tp has a commit awaiting its append.
func (g *group) hasPending(tp topicPartition) bool {
	return len(g.pendingCommits[tp]) > 0
}

// unstable reports whether tp has a commit not yet decided: awaiting its
// append, or a transaction's awaiting its marker.
func (g *group) unstable(tp topicPartition) bool {
	return g.hasPending(tp) || g.hasTxnOffset(tp)
}

// blank reports whether the group holds nothing worth keeping.
func (g *group) blank() bool {
	return g.state == stateEmpty && len(g.offsets) == 0 && len(g.pendingCommits) == 0 &&
		len(g.pendingIDs) == 0 && !g.openTxn()
}
