package e2e

// The process side of the tests' fjord nodes (node, clusterNode): one
// server process and its restarts on internal/nodeproc, the one process
// harness (DESIGN.md §9), with what the tests add to it — a failed test
// instead of an error, the output of every run, and the test's own view
// of which exits it caused.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/nodeproc"
)

// serverProc is one fjord server process of a test and its restarts.
// Every run writes its output to its own file, run-N.log in the log
// directory (nodeproc.Proc.LogPath).
type serverProc struct {
	t    *testing.T
	name string // in messages: "fjord", "node 2"
	p    *nodeproc.Proc
	// seen is the last run whose end the test caused or saw (signal):
	// a stopped process of a later run exited on its own.
	seen atomic.Int64
}

// newServerProc returns a stopped process of `fjord server` with the
// given key=value overrides, its runs' output in logDir. The process
// dies with the test binary.
func newServerProc(t *testing.T, name, logDir string, overrides []string) *serverProc {
	args := []string{"server"}
	for _, o := range overrides {
		args = append(args, "--override", o)
	}
	return &serverProc{t: t, name: name, p: nodeproc.New(nodeproc.Config{
		Name: name, Bin: fjordBin, Args: args, LogDir: logDir, DieWithParent: true,
	})}
}

// start starts a new run and returns a channel closed when it exits. It
// fails the test if the process runs (or is paused).
func (sp *serverProc) start() <-chan struct{} {
	sp.t.Helper()
	if err := sp.p.Start(); err != nil {
		sp.t.Fatal(err)
	}
	return sp.p.Done()
}

// run returns the number of the current (or last) run, from 1; 0 before
// the first start.
func (sp *serverProc) run() int { return sp.p.Run() }

// output returns the output (stdout and stderr) of run.
func (sp *serverProc) output(run int) string {
	b, err := os.ReadFile(sp.p.LogPath(run))
	if err != nil {
		return fmt.Sprintf("(no output: %v)", err)
	}
	return string(b)
}

// lastExit says how the last run ended: "exited" (status 0), "exit
// status 1", "killed", "terminated" (nodeproc.Status.LastExit).
func (sp *serverProc) lastExit() string { return sp.p.LastExit() }

// exitErr is the last run's end as an error: nil for status 0.
func (sp *serverProc) exitErr() error {
	if e := sp.p.LastExit(); e != "exited" {
		return errors.New(e)
	}
	return nil
}

// checkAlive fails the test if the process is not running (a paused
// one is alive), saying so at length if it exited on its own.
func (sp *serverProc) checkAlive() {
	sp.t.Helper()
	st := sp.p.Status()
	if st.State != nodeproc.Stopped {
		return
	}
	if st.Run == 0 || int64(st.Run) == sp.seen.Load() {
		sp.t.Fatalf("%s is not running", sp.name)
	}
	sp.t.Fatalf("%s exited unexpectedly (%v); output:\n%s", sp.name, sp.exitErr(), tail(sp.output(st.Run), 60))
}

// signal sends sig, SIGTERM or SIGKILL, and waits up to timeout for the
// process to exit (a SIGKILL waits nodeproc's own bound). It reports
// whether the process exited in time and how (nil for status 0). A
// process that does not exit within timeout of SIGTERM is killed. A
// process the test stopped before, or never started, counts as exited
// with status 0; one that exited on its own reports how.
func (sp *serverProc) signal(sig syscall.Signal, timeout time.Duration) (bool, error) {
	sp.t.Helper()
	st := sp.p.Status()
	if st.State == nodeproc.Stopped && (st.Run == 0 || int64(st.Run) == sp.seen.Load()) {
		return true, nil
	}
	var err error
	inTime := true
	switch sig {
	case syscall.SIGKILL:
		err = sp.p.Kill()
	case syscall.SIGTERM:
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err = sp.p.Stop(ctx)
		inTime = ctx.Err() == nil
		cancel()
	default:
		sp.t.Fatalf("signal %v to %s: only SIGTERM and SIGKILL (pause and resume for SIGSTOP, SIGCONT)", sig, sp.name)
	}
	if err != nil && !errors.As(err, new(*nodeproc.StateError)) { // a StateError: it exited on its own
		sp.t.Logf("%s: %v", sp.name, err)
	}
	st = sp.p.Status()
	if st.State != nodeproc.Stopped {
		return false, nil
	}
	sp.seen.Store(int64(st.Run))
	if !inTime {
		return false, nil
	}
	return true, sp.exitErr()
}

// kill9 kills the process with SIGKILL; it fails the test unless the
// process was alive (running or paused).
func (sp *serverProc) kill9() {
	sp.t.Helper()
	sp.checkAlive()
	if ok, _ := sp.signal(syscall.SIGKILL, 0); !ok {
		sp.t.Fatalf("%s did not die after SIGKILL", sp.name)
	}
}

// pause stops the process with SIGSTOP and, where /proc tells, waits
// until it is stopped: the signal is delivered asynchronously, and a
// request sent right after must find the process no longer running.
func (sp *serverProc) pause() {
	sp.t.Helper()
	if err := sp.p.Pause(); err != nil {
		sp.t.Fatal(err)
	}
	stat := fmt.Sprintf("/proc/%d/stat", sp.p.PID())
	if _, err := os.Stat(stat); err != nil {
		return
	}
	waitFor(sp.t, waitTimeout, sp.name+" to stop", func() (bool, string) {
		b, err := os.ReadFile(stat)
		if err != nil {
			return false, err.Error()
		}
		// pid (comm) state ...: comm may hold spaces, the state follows
		// the last parenthesis.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 >= len(s) {
			return false, "unreadable " + stat
		}
		return s[i+2] == 'T', fmt.Sprintf("process state %c", s[i+2])
	})
}

// resume continues a paused process with SIGCONT.
func (sp *serverProc) resume() {
	sp.t.Helper()
	if err := sp.p.Resume(); err != nil {
		sp.t.Fatal(err)
	}
}

// report fails the test if a run reported a data race and, if the test
// failed or FJORD_E2E_KEEP=1, logs the tail (lines) of every run's
// output under the heading what.
func (sp *serverProc) report(what string, lines int) {
	for run := 1; run <= sp.run(); run++ {
		if strings.Contains(sp.output(run), "WARNING: DATA RACE") {
			sp.t.Errorf("%s run %d reported a data race", sp.name, run)
		}
	}
	if !sp.t.Failed() && os.Getenv("FJORD_E2E_KEEP") != "1" {
		return
	}
	for run := 1; run <= sp.run(); run++ {
		sp.t.Logf("%s run %d output (tail):\n%s", what, run, tail(sp.output(run), lines))
	}
}
