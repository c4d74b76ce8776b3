package partition

// Appends fenced by the leader epoch, for the coordinators that own an
// internal topic's partition while this replica leads it (issue 13). A
// coordinator loaded for one leadership must never write, nor count a
// write as durable, in another: between two leaderships the log may have
// been truncated and refilled, and a newer coordinator may have loaded
// the state without the old one's records.

// AppendInEpoch is AppendAsLeader with acks=all, refused with
// ErrNotLeader unless the replica leads in epoch.
//
// A coordinator's batch is trusted as Kafka trusts its coordinator-origin
// appends: a transactional one (record.SetProducer, BaseSequence -1) opens
// its producer's transaction without KIP-890 verification and without a
// sequence check; only its producer epoch is checked. A non-transactional
// batch of a producer with an open transaction is still ErrInvalidTxnState.
func (p *Partition) AppendInEpoch(batch []byte, epoch int32) (AppendResult, error) {
	return p.appendAsLeader(batch, appendOpts{acks: -1, epoch: epoch, from: fromCoordinator})
}

// AppendVerifiedInEpoch is AppendInEpoch for a coordinator that verified
// the transaction first (VerificationGuard, then the transaction
// coordinator): a transactional batch whose producer has no open
// transaction is refused with ErrInvalidTxnState unless guard is the
// producer's current verification guard (a marker landed in between).
func (p *Partition) AppendVerifiedInEpoch(batch []byte, epoch int32, guard uint64) (AppendResult, error) {
	return p.appendAsLeader(batch, appendOpts{acks: -1, epoch: epoch, guard: guard, from: fromCoordinator, verified: true})
}

// HighWatermarkInEpoch returns the high watermark while the replica leads
// in epoch; ok is false otherwise.
func (p *Partition) HighWatermarkInEpoch(epoch int32) (hw int64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.isLeader() || p.state.LeaderEpoch != epoch || p.failed != nil {
		return 0, false
	}
	return p.hw, true
}
