package partition

// Appends fenced by the leader epoch, for the coordinators that own an
// internal topic's partition while this replica leads it (issue 13). A
// coordinator loaded for one leadership must never write, nor count a
// write as durable, in another: between two leaderships the log may have
// been truncated and refilled, and a newer coordinator may have loaded
// the state without the old one's records.

// AppendInEpoch is AppendAsLeader with acks=all, refused with
// ErrNotLeader unless the replica leads in epoch.
func (p *Partition) AppendInEpoch(batch []byte, epoch int32) (AppendResult, error) {
	return p.appendAsLeader(batch, -1, epoch)
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
