package quorum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/vfs"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// StateMachine receives the committed log. All three methods are called
// from one goroutine, in log order: during StartRaft for what the node
// already had, then from the Raft loop.
type StateMachine interface {
	// Apply is called for each committed normal entry with non-empty data,
	// with its raft index (the metadata offset). data must not be modified;
	// it may be retained.
	Apply(index uint64, data []byte)
	// Snapshot returns the state after the last applied entry, serialized.
	// An error skips this snapshot (the log keeps growing until the next
	// attempt, SnapshotEvery entries later). The data must not start with
	// the bytes 0x00 'F' 'J' 'Q' (snapMagic: the quorum's own header).
	Snapshot() ([]byte, error)
	// Restore replaces the state with a snapshot taken at index. An error
	// stops the node (its state would otherwise be unknown).
	Restore(index uint64, data []byte) error
}

// RaftConfig configures one member of the controller quorum.
type RaftConfig struct {
	NodeID         int32                                                    // Kafka node.id (>= 0); raft ids are NodeID+1 internally
	Voters         map[int32]string                                         // bootstrap voters (controller.quorum.voters): node id -> host:port of its controller listener; see StartRaft
	Addr           string                                                   // this node's controller listener (host:port), told to the peers it dials; "" = its entry in Voters
	Dir            string                                                   // WAL and snapshots live here (e.g. <metadata.log.dir>/__cluster_metadata-0)
	ClusterID      string                                                   // sent in every transport handshake; a peer with another id is refused
	TickInterval   time.Duration                                            // default 100ms
	ElectionTicks  int                                                      // default 10 (so ~1s elections)
	HeartbeatTicks int                                                      // default 1
	SnapshotEvery  uint64                                                   // snapshot and compact the log every N applied entries; default 10000
	Logger         *slog.Logger                                             // nil = slog.Default()
	Dial           func(ctx context.Context, addr string) (net.Conn, error) // nil = net.Dialer on tcp
	// OnLeaderConnLost, if set, is called when an inbound connection from
	// the node this follower knows as leader (in term) ends. It runs on a
	// transport goroutine and must not block; the callee may probe the
	// node and call LeaderGone (leadergone.go).
	OnLeaderConnLost func(leader int32, term uint64)
	// FS holds Dir's files (WAL, snapshots); nil = vfs.Default, the OS.
	// Tests pass vfs.NewStrictMem to crash a member, or vfs.Inject.
	FS vfs.FS
}

// LeaderState is who leads the quorum in which term. Leader is -1 when
// unknown.
type LeaderState struct {
	Leader int32
	Term   uint64
}

// ErrNotLeader is returned (inside a *NotLeaderError) when an operation
// needs the leader and this node is not it.
var ErrNotLeader = errors.New("quorum: not the leader")

// ErrProposalDropped means a proposal was not committed under this node's
// leadership: leadership was lost (or Raft refused the entry) first. The
// entry may still be committed by a later leader, and is then applied like
// any other; callers that need to know must read the log.
var ErrProposalDropped = errors.New("quorum: proposal dropped")

// NotLeaderError is ErrNotLeader with the leader this node knows of.
type NotLeaderError struct {
	Leader int32 // -1 if unknown
}

func (e *NotLeaderError) Error() string {
	if e.Leader < 0 {
		return "quorum: not the leader (leader unknown)"
	}
	return fmt.Sprintf("quorum: not the leader (leader is node %d)", e.Leader)
}

// Unwrap makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// maxProposal bounds one entry, so that it fits a transport frame and a
// WAL record with room to spare.
const maxProposal = 16 << 20

// Raft limits handed to go.etcd.io/raft.
const (
	maxSizePerMsg       = 1 << 20
	maxCommittedPerRdy  = 8 << 20
	maxUncommittedBytes = 128 << 20
	maxInflightMsgs     = 256
)

// Raft is one member of the controller quorum: a go.etcd.io/raft RawNode
// driven by one goroutine (the loop), with its WAL, snapshots and TCP
// transport. Its methods are safe for concurrent use.
//
// Locking: mu guards the published state (the fields after it). The loop
// takes it briefly to publish; nothing else is locked while holding it.
type Raft struct {
	cfg  RaftConfig
	id   uint64 // raft id, NodeID+1
	sm   StateMachine
	log  *slog.Logger
	rlog *slog.Logger // for the raft package

	// Owned by the loop goroutine (and by StartRaft before the loop starts).
	rn            *raft.RawNode
	storage       *raft.MemoryStorage
	wal           *wal
	peers         map[uint64]*peer // transport to each node messages went to (lazily; see peerFor)
	peerCtx       context.Context  // parent of the peers' contexts; ends at Close
	confState     raftpb.ConfState
	endpoints     map[int32]string // members' endpoints per the log (members.go)
	removed       map[int32]bool   // nodes whose removal was applied here
	applied       uint64
	snapIndex     uint64      // index of the newest durable snapshot
	snapTried     uint64      // applied index at the last snapshot attempt
	snapSoon      bool        // a node was added: snapshot now if the log is compacted (addsNode)
	accepted      []*proposal // proposed this iteration; indexes assigned from the next Ready
	waiters       map[uint64]*proposal
	deferred      []report             // transport failures to report after Advance
	campaignTimer *time.Timer          // campaign after LeaderGone; nil until the first
	goneLeader    gone                 // the leader LeaderGone declared dead, in its term
	goneUntil     time.Time            // until when its messages are ignored
	contact       map[uint64]peerTimes // followers' answers to this leader (state.go)
	contactTerm   uint64               // the term contact belongs to

	propc    chan *proposal
	recvc    chan raftpb.Message
	reportc  chan report
	gonec    chan gone
	statec   chan chan State // State requests
	stopc    chan struct{}   // closed by Close
	done     chan struct{}   // closed when the loop has exited
	stopPeer context.CancelFunc
	wg       sync.WaitGroup // peer writers and ServeConn calls
	once     sync.Once
	closeErr error

	mu         sync.Mutex
	status     LeaderState
	pubApplied uint64
	leading    bool      // this node is leader in leadTerm
	leadTerm   uint64    // the term of this node's latest leadership
	leadSince  time.Time // when this node won leadTerm
	readyIndex uint64    // first entry of leadTerm, once applied; 0 before
	changed    chan struct{}
	watchers   []chan LeaderState
	stopped    error              // why the loop exited; nil while it runs
	closed     bool               // Close has begun: no new connections or watchers
	inbound    map[net.Conn]int32 // served connections -> sender (-1 before the handshake)
	members    membership         // published membership (members.go)
	hints      map[int32]string   // endpoints peers gave when they dialled in (transport.go)
}

// proposal is one Propose call in flight.
type proposal struct {
	ctx  context.Context
	data []byte
	cc   *raftpb.ConfChangeV2 // a configuration change (data is its encoding); nil for normal entries
	term uint64
	res  chan proposalResult // buffered; written once
}

type proposalResult struct {
	index uint64
	err   error
}

func (p *proposal) finish(index uint64, err error) {
	p.res <- proposalResult{index, err}
}

func raftID(node int32) uint64 { return uint64(node) + 1 }

func nodeID(id uint64) int32 {
	if id == raft.None {
		return -1
	}
	return int32(id - 1)
}

func (c *RaftConfig) applyDefaults() {
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.TickInterval <= 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = 1
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Dial == nil {
		d := &net.Dialer{}
		c.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
}

func (c *RaftConfig) validate() error {
	switch {
	case c.NodeID < 0:
		return fmt.Errorf("quorum: node id %d is negative", c.NodeID)
	case c.Dir == "":
		return errors.New("quorum: no directory")
	case c.ClusterID == "":
		return errors.New("quorum: no cluster id")
	case c.ElectionTicks <= c.HeartbeatTicks:
		return errors.New("quorum: election ticks must exceed heartbeat ticks")
	}
	if _, ok := c.Voters[c.NodeID]; !ok && c.Addr == "" {
		return fmt.Errorf("quorum: node %d is not among the voters and has no Addr", c.NodeID)
	}
	for id, addr := range c.Voters {
		if id < 0 || (id != c.NodeID && addr == "") {
			return fmt.Errorf("quorum: bad voter %d@%q", id, addr)
		}
	}
	return nil
}

// StartRaft opens (or creates) the log in cfg.Dir and starts this member.
//
// A brand new node (no snapshot, no WAL content) that is among cfg.Voters
// bootstraps with them as initial voters; every voter bootstraps
// identically, so their logs agree from index 1 (one configuration entry
// per voter, ascending ids, each carrying the voter's endpoint). A brand
// new node that is not among cfg.Voters joins: it starts with an empty log
// and no members, waits for a leader to add it (AddVoter: first as a
// learner, which receives the log), and until then only answers. This is
// Kafka's controller formatted without initial controllers: cfg.Voters
// are then only the bootstrap servers it knows the cluster by. A node
// with state ignores cfg.Voters but for the endpoints its log lacks: the
// membership is what its log (and snapshot) says.
//
// A node with state replays it into sm before StartRaft returns: Restore
// from the newest snapshot, then Apply for each committed entry after it.
// Then the loop runs in its own goroutine until Close.
func StartRaft(cfg RaftConfig, sm StateMachine) (*Raft, error) {
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := vfs.MkdirAllSynced(cfg.FS, cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	r := newRaft(cfg, sm)
	if err := r.open(); err != nil {
		r.stopPeer() // peers replay may have started
		r.wg.Wait()
		if r.wal != nil {
			r.wal.close()
		}
		return nil, err
	}
	go r.run()
	return r, nil
}

func newRaft(cfg RaftConfig, sm StateMachine) *Raft {
	r := &Raft{
		cfg:     cfg,
		id:      raftID(cfg.NodeID),
		sm:      sm,
		log:     cfg.Logger.With("component", "quorum", "node", cfg.NodeID),
		rlog:    cfg.Logger.With("component", "raft", "node", cfg.NodeID),
		storage: raft.NewMemoryStorage(),
		waiters: make(map[uint64]*proposal),
		propc:   make(chan *proposal),
		recvc:   make(chan raftpb.Message, 256),
		reportc: make(chan report, 256),
		gonec:   make(chan gone, 4),
		statec:  make(chan chan State),
		stopc:   make(chan struct{}),
		done:    make(chan struct{}),
		status:  LeaderState{Leader: -1},
		changed: make(chan struct{}),
		inbound: make(map[net.Conn]int32),
		hints:   make(map[int32]string),
		peers:   make(map[uint64]*peer),

		endpoints: make(map[int32]string),
		removed:   make(map[int32]bool),
	}
	r.peerCtx, r.stopPeer = context.WithCancel(context.Background())
	return r
}

// open loads the snapshot and WAL, creates the RawNode (bootstrapping a
// new node) and replays the committed log into the state machine.
func (r *Raft) open() error {
	snap, err := loadSnapshotFile(r.cfg.FS, r.cfg.Dir, r.log)
	if err != nil {
		return err
	}
	w, wc, err := openWAL(r.cfg.FS, r.cfg.Dir)
	if err != nil {
		return err
	}
	r.wal = w
	if err := r.load(snap, wc); err != nil {
		return err
	}
	rn, err := raft.NewRawNode(r.raftConfig())
	if err != nil {
		return err
	}
	r.rn = rn
	if raft.IsEmptySnap(snap) && len(wc.ents) == 0 && raft.IsEmptyHardState(wc.hs) {
		if _, ok := r.cfg.Voters[r.cfg.NodeID]; !ok {
			r.log.Info("quorum: not among the bootstrap voters and no log: waiting to be added (AddRaftVoter)", "bootstrap", r.cfg.Voters)
		} else if err := rn.Bootstrap(r.bootstrapPeers()); err != nil {
			return err
		}
	}
	if err := r.replay(); err != nil {
		return err
	}
	if e := r.endpoints[r.cfg.NodeID]; e != "" && r.cfg.Addr != "" && e != r.cfg.Addr {
		r.log.Warn("quorum: the quorum reaches this node at an endpoint other than its controller listener; if it moved, record the new one with UpdateRaftVoter",
			"quorum_endpoint", e, "listener", r.cfg.Addr)
	}
	r.noteLeadership() // publish the term even if replay had nothing to do
	return nil
}

// load fills the MemoryStorage from the snapshot and WAL contents and
// restores the state machine from the snapshot.
func (r *Raft) load(snap raftpb.Snapshot, wc walContents) error {
	index, term := snap.Metadata.Index, snap.Metadata.Term
	if wc.baseIndex > index {
		return fmt.Errorf("quorum: WAL starts after index %d but the newest snapshot is at %d", wc.baseIndex, index)
	}
	if !raft.IsEmptySnap(snap) {
		if err := r.storage.ApplySnapshot(snap); err != nil {
			return err
		}
		eps, data, err := unwrapSnapshot(snap.Data)
		if err != nil {
			return fmt.Errorf("quorum: snapshot %d: %w", index, err)
		}
		if err := r.sm.Restore(index, data); err != nil {
			return fmt.Errorf("quorum: restore snapshot %d: %w", index, err)
		}
		r.setMembers(snap.Metadata.ConfState, eps)
		r.snapIndex, r.snapTried = index, index
		r.setApplied(index, nil)
	}
	ents := entriesAfter(wc, index, term)
	hs := wc.hs
	if hs.Commit < index {
		hs.Commit = index // the snapshot was committed; its commit record may not have been written
	}
	if hs.Term < term {
		hs.Term, hs.Vote = term, raft.None
	}
	if last := index + uint64(len(ents)); hs.Commit > last {
		return fmt.Errorf("quorum: commit index %d beyond the last entry %d", hs.Commit, last)
	}
	if err := r.storage.SetHardState(hs); err != nil {
		return err
	}
	return r.storage.Append(ents)
}

// entriesAfter returns the WAL entries that follow the snapshot at
// (index, term). When the snapshot is newer than the WAL's base (a crash
// between saving a received snapshot and rewriting the WAL), the WAL's
// entries are kept only if they continue the snapshot's log.
func entriesAfter(wc walContents, index, term uint64) []raftpb.Entry {
	if index == wc.baseIndex {
		return wc.ents
	}
	i := index - wc.baseIndex - 1
	if i < uint64(len(wc.ents)) && wc.ents[i].Term == term {
		return wc.ents[i+1:]
	}
	return nil
}

func (r *Raft) bootstrapPeers() []raft.Peer {
	ids := make([]int, 0, len(r.cfg.Voters))
	for id := range r.cfg.Voters {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	peers := make([]raft.Peer, len(ids))
	for i, id := range ids {
		ctx := encodeEndpoints(map[int32]string{int32(id): r.cfg.Voters[int32(id)]})
		peers[i] = raft.Peer{ID: raftID(int32(id)), Context: ctx}
	}
	return peers
}

func (r *Raft) raftConfig() *raft.Config {
	return &raft.Config{
		ID:                        r.id,
		ElectionTick:              r.cfg.ElectionTicks,
		HeartbeatTick:             r.cfg.HeartbeatTicks,
		Storage:                   r.storage,
		Applied:                   r.snapIndex,
		MaxSizePerMsg:             maxSizePerMsg,
		MaxCommittedSizePerReady:  maxCommittedPerRdy,
		MaxUncommittedEntriesSize: maxUncommittedBytes,
		MaxInflightMsgs:           maxInflightMsgs,
		CheckQuorum:               true,
		PreVote:                   true,
		DisableProposalForwarding: true,
		Logger:                    raftLogger{r.rlog},
	}
}

// replay handles Readies until every entry known committed at start is
// applied. No messages flow yet: a restarted node is a follower without
// a leader until its first tick.
func (r *Raft) replay() error {
	commit := r.rn.BasicStatus().Commit
	for r.applied < commit && r.rn.HasReady() {
		if err := r.handleReady(); err != nil {
			return err
		}
	}
	if r.applied < commit {
		return fmt.Errorf("quorum: replay stopped at %d before commit index %d", r.applied, commit)
	}
	return nil
}

// Propose replicates data and returns its index once it is committed and
// applied locally (sm.Apply has returned for it). data is copied.
//
// Errors: a *NotLeaderError (errors.Is ErrNotLeader) when this node is not
// the leader at proposal time; ErrProposalDropped when leadership is lost
// before the entry commits or Raft refuses it (e.g. too many uncommitted
// bytes); ctx.Err() when ctx ends first (the entry may still commit);
// ErrClosed after Close.
func (r *Raft) Propose(ctx context.Context, data []byte) (uint64, error) {
	if len(data) == 0 {
		return 0, errors.New("quorum: empty proposal")
	}
	if len(data) > maxProposal {
		return 0, fmt.Errorf("quorum: proposal of %d bytes exceeds %d", len(data), maxProposal)
	}
	p := &proposal{ctx: ctx, data: bytes.Clone(data), res: make(chan proposalResult, 1)}
	return r.submit(ctx, p)
}

// submit hands p to the loop and waits for its outcome.
func (r *Raft) submit(ctx context.Context, p *proposal) (uint64, error) {
	select {
	case r.propc <- p:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-r.done:
		return 0, r.stopErr()
	}
	select {
	case res := <-p.res:
		return res.index, res.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Leader returns the current leader's node id, -1 if unknown.
func (r *Raft) Leader() int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status.Leader
}

// Term returns the current (durable) term.
func (r *Raft) Term() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status.Term
}

// AppliedIndex returns the index of the last entry applied to the state
// machine (or restored from a snapshot).
func (r *Raft) AppliedIndex() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pubApplied
}

// Watch returns a channel that delivers the (leader, term) pair: the
// current one at once, then each change. It holds one value; a newer
// value replaces one not yet received, so a slow reader sees the latest
// state and never blocks Raft. The channel is closed by Close.
func (r *Raft) Watch() <-chan LeaderState {
	ch := make(chan LeaderState, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		close(ch)
		return ch
	}
	ch <- r.status
	r.watchers = append(r.watchers, ch)
	return ch
}

// WaitApplied blocks until the applied index is >= index. It returns
// ctx.Err() if ctx ends first and ErrClosed (or the error that stopped the
// node) if the node stops first.
func (r *Raft) WaitApplied(ctx context.Context, index uint64) error {
	for {
		r.mu.Lock()
		applied, ch, err := r.pubApplied, r.changed, r.stopped
		r.mu.Unlock()
		if applied >= index {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// LeaderReady returns, once this node leads, the index of its first entry
// of the term (the empty entry Raft appends on election) as soon as that
// entry is committed and applied locally. From that point the state
// machine holds every entry committed before this leadership, so the new
// leader's state is complete.
//
// It returns a *NotLeaderError if this node is not the leader when called
// or loses leadership while waiting; ctx.Err() or ErrClosed otherwise.
func (r *Raft) LeaderReady(ctx context.Context) (uint64, error) {
	for {
		r.mu.Lock()
		leading, ready, leader := r.leading, r.readyIndex, r.status.Leader
		ch, err := r.changed, r.stopped
		r.mu.Unlock()
		switch {
		case err != nil:
			return 0, err
		case !leading:
			return 0, &NotLeaderError{Leader: leader}
		case ready != 0:
			return ready, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Done is closed when the Raft loop stops: after Close, or on a fatal
// error such as a WAL write that failed (Err says which).
func (r *Raft) Done() <-chan struct{} { return r.done }

// Err returns why the Raft loop stopped: nil while it runs, ErrClosed
// after Close, else the fatal error that stopped it.
func (r *Raft) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// Close stops the loop, the transport and every served connection, and
// closes the WAL. Pending proposals fail with ErrClosed. It returns the
// error that stopped the node, if one did, else the WAL's close error.
// Close is idempotent.
func (r *Raft) Close() error {
	r.once.Do(func() {
		close(r.stopc)
		<-r.done
		r.stopPeer()
		r.mu.Lock()
		r.closed = true
		for c := range r.inbound {
			c.Close()
		}
		for _, w := range r.watchers {
			close(w)
		}
		r.watchers = nil
		stopped := r.stopped
		r.mu.Unlock()
		r.wg.Wait()
		r.closeErr = r.wal.close()
		if !errors.Is(stopped, ErrClosed) {
			r.closeErr = stopped
		}
	})
	return r.closeErr
}

// stopErr is why the loop stopped.
func (r *Raft) stopErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped == nil {
		return ErrClosed
	}
	return r.stopped
}

// broadcast wakes every waiter on r.changed. Callers hold r.mu.
func (r *Raft) broadcast() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// publishLeader delivers ls to every watcher, replacing an unread value.
// Callers hold r.mu.
func (r *Raft) publishLeader(ls LeaderState) {
	r.status = ls
	for _, w := range r.watchers {
		select {
		case <-w:
		default:
		}
		w <- ls // cannot block: one slot, emptied above, and only we send
	}
}
