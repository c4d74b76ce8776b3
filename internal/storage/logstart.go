package storage

import (
	"fmt"
	"path/filepath"
)

// Advancing the log start offset on request (DeleteRecords, KIP-107).
//
// A leader's DeleteRecords takes three steps, in this order, so that a
// crash between any two leaves a consistent log whose start is never
// below an acknowledged request:
//
//  1. AdvanceLogStart raises the in-memory log start (reads below it fail
//     from now on) and trims the epoch cache;
//  2. PersistLogStart writes the log dir's log-start-offset-checkpoint;
//  3. DeleteSegmentsBelowStart removes the segments wholly below it.
//
// A crash after 2 and before 3 reopens the log at the checkpointed start
// with the old segments still there (Open takes max(checkpoint, first
// base)); the next ApplyRetention deletes them (segments wholly below the
// log start go first). A crash before 2 reopens at the old start: the
// request was not acknowledged. Followers take their leader's log start
// through SetLogStartOffset (memory, then segments) and leave it to the
// periodic checkpoint: after a crash they start lower and learn it again
// from their leader's next fetch response.

// AdvanceLogStart raises the log start offset to offset without deleting
// anything, and reports whether it moved. Lower values are ignored;
// values above the LEO return ErrOffsetOutOfRange. A mutator (see Log).
func (l *Log) AdvanceLogStart(offset int64) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return false, err
	}
	if offset > l.LogEndOffset() {
		return false, fmt.Errorf("%w: log start %d beyond LEO %d", ErrOffsetOutOfRange, offset, l.LogEndOffset())
	}
	if offset <= l.LogStartOffset() {
		return false, nil
	}
	l.logger.Info("storage: advancing log start", "from", l.LogStartOffset(), "to", offset)
	l.logStart.Store(offset)
	return true, l.afterStartMoved()
}

// PersistLogStart makes the current log start offset durable: it writes
// the log-start-offset-checkpoint of the log's dir (Options.PersistLogStart,
// which the Manager sets); without one (a log opened alone) it does
// nothing. A failure fails the log. It takes no lock of the log's and may
// be called from any goroutine.
func (l *Log) PersistLogStart() error {
	if l.persistStart == nil {
		return nil
	}
	if err := l.persistStart(); err != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.fail("persist log start", err)
	}
	return nil
}

// DeleteSegmentsBelowStart deletes the non-active segments that end at or
// below the log start offset. A mutator (see Log).
func (l *Log) DeleteSegmentsBelowStart() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	return l.deleteSegmentsBelowStart()
}

// checkpointLogStart writes d's log-start-offset-checkpoint with the
// current log start of each of its loaded logs (and the last known value
// of the others). It takes checkpointMu, then m.mu briefly; it is called
// with no Log's mutex held (Log.PersistLogStart).
func (m *Manager) checkpointLogStart(d *logDir) error {
	m.checkpointMu.Lock()
	defer m.checkpointMu.Unlock()
	m.mu.Lock()
	for tp := range d.parts {
		if l := m.logs[tp]; l != nil {
			d.logStart[tp] = l.LogStartOffset()
		}
	}
	offsets := d.only(d.logStart)
	m.mu.Unlock()
	if err := m.written.write(m.fs, d.path, logStartFile, offsets); err != nil {
		err = fmt.Errorf("storage: checkpoint %s: %w", filepath.Join(d.path, logStartFile), err)
		m.fail(err)
		return err
	}
	return nil
}
