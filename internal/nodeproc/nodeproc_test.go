package nodeproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary a helper process (helperMain) instead
// of running the tests; its value is the helper's mode.
const helperEnv = "NODEPROC_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode))
	}
	goleak.VerifyTestMain(m) // every run's waiter goroutine ended with its process
}

// helperMain is the helper process: "serve" prints "up", then runs until
// SIGTERM and prints "bye"; "deaf" ignores SIGTERM; "fail" prints its
// HELPER_WORD and exits with status 1.
func helperMain(mode string) int {
	switch mode {
	case "fail":
		fmt.Println("word=" + os.Getenv("HELPER_WORD"))
		return 1
	}
	sig := make(chan os.Signal, 1)
	if mode == "deaf" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sig, syscall.SIGTERM)
	}
	fmt.Println("up")
	select {
	case <-sig:
		fmt.Println("bye")
	case <-time.After(time.Minute):
	}
	return 0
}

// newHelper returns a Proc of the test binary in mode.
func newHelper(t *testing.T, mode string, cfg Config) *Proc {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name, cfg.Bin, cfg.LogDir = "helper", bin, t.TempDir()
	cfg.Env = append([]string{helperEnv + "=" + mode}, cfg.Env...)
	p := New(cfg)
	t.Cleanup(func() {
		p.Close()
		_ = p.Kill()
	})
	return p
}

// startUp starts p and waits until the helper printed "up".
func startUp(t *testing.T, p *Proc) {
	t.Helper()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the helper to print up", func() bool { return strings.Contains(p.Tail(5), "up") })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// wantStateError checks that err is a StateError for action in state.
func wantStateError(t *testing.T, err error, action string, state State) {
	t.Helper()
	var se *StateError
	if !errors.As(err, &se) || se.Action != action || se.State != state {
		t.Errorf("got %v, want a StateError: cannot %s, it is %s", err, action, state)
	}
}

func TestStartStop(t *testing.T) {
	p := newHelper(t, "serve", Config{})
	if st := p.Status(); st.State != Stopped || st.PID != 0 || st.Run != 0 || st.LastExit != "" {
		t.Fatalf("new Proc: %+v", st)
	}
	startUp(t, p)
	st := p.Status()
	if st.State != Running || st.PID <= 0 || st.Run != 1 || st.LastExit != "" || time.Since(st.Since) > 10*time.Second {
		t.Fatalf("started: %+v", st)
	}
	wantStateError(t, p.Start(), "start", Running)
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Status(); st.State != Stopped || st.PID != 0 || st.LastExit != "exited" {
		t.Errorf("stopped: %+v", st)
	}
	if got := p.Tail(1); got != "bye" {
		t.Errorf("Tail(1) = %q, want bye (SIGTERM handled)", got)
	}
	wantStateError(t, p.Stop(context.Background()), "stop", Stopped)
	wantStateError(t, p.Kill(), "kill", Stopped)
	if err := goleak.Find(); err != nil {
		t.Errorf("after the process ended: %v", err)
	}
}

func TestPauseResume(t *testing.T) {
	p := newHelper(t, "serve", Config{})
	wantStateError(t, p.Pause(), "pause", Stopped)
	startUp(t, p)
	wantStateError(t, p.Resume(), "resume", Running)
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	if p.State() != Paused {
		t.Errorf("paused: state %v", p.State())
	}
	waitFor(t, "the kernel to stop the process", func() bool { return procState(t, p.PID()) == "T" })
	wantStateError(t, p.Pause(), "pause", Paused)
	wantStateError(t, p.Start(), "start", Paused)
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	if p.State() != Running {
		t.Errorf("resumed: state %v", p.State())
	}
	waitFor(t, "the kernel to continue the process", func() bool { return procState(t, p.PID()) != "T" })
	// Stop resumes a paused process so that it can act on SIGTERM.
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if p.LastExit() != "exited" || p.Tail(1) != "bye" {
		t.Errorf("stopped while paused: last exit %q, tail %q; want a clean exit", p.LastExit(), p.Tail(1))
	}
}

// procState returns the kernel's one-letter state of pid (T: stopped).
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return f[0]
}

func TestKillAndRestart(t *testing.T) {
	p := newHelper(t, "serve", Config{})
	startUp(t, p)
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	pid := p.PID()
	if err := p.Kill(); err != nil { // a paused process dies too
		t.Fatal(err)
	}
	if st := p.Status(); st.State != Stopped || st.LastExit != "killed" || st.PID != 0 {
		t.Errorf("killed: %+v", st)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("process %d still exists after Kill", pid)
	}
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "run 2 to print up", func() bool { return p.Tail(1) == "up" })
	if st := p.Status(); st.Run != 2 || st.PID == pid || st.State != Running || st.LastExit != "killed" {
		t.Errorf("restarted: %+v (first pid %d)", st, pid)
	}
	if err := p.Restart(); err != nil { // kills run 2
		t.Fatal(err)
	}
	if p.Run() != 3 || p.LastExit() != "killed" {
		t.Errorf("second restart: run %d, last exit %q", p.Run(), p.LastExit())
	}
	for run := 1; run <= 3; run++ {
		if _, err := os.Stat(p.LogPath(run)); err != nil {
			t.Errorf("log of run %d: %v", run, err)
		}
	}
}

// TestExitOnItsOwn: a process that exits is Stopped, with its status,
// the Proc's Env and the Output writer's copy of its output.
func TestExitOnItsOwn(t *testing.T) {
	var out syncBuffer
	p := newHelper(t, "fail", Config{Env: []string{"HELPER_WORD=one"}, Output: &out})
	for i, word := range []string{"one", "two"} {
		if i > 0 {
			p.SetArgs(nil, []string{helperEnv + "=fail", "HELPER_WORD=" + word})
		}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the helper did not exit")
		}
		if st := p.Status(); st.State != Stopped || st.LastExit != "exit status 1" || st.Run != i+1 {
			t.Errorf("run %d exited: %+v", i+1, st)
		}
		if got := p.Tail(1); got != "word="+word {
			t.Errorf("run %d: Tail(1) = %q, want word=%s", i+1, got, word)
		}
	}
	if got := out.String(); got != "word=one\nword=two\n" {
		t.Errorf("Output got %q", got)
	}
}

// TestStopKills: a process that ignores SIGTERM is killed once the
// context ends.
func TestStopKills(t *testing.T) {
	p := newHelper(t, "deaf", Config{})
	startUp(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if p.LastExit() != "killed" || time.Since(start) > 5*time.Second {
		t.Errorf("Stop of a deaf process: last exit %q after %v, want killed", p.LastExit(), time.Since(start))
	}
}

func TestCloseAndGroup(t *testing.T) {
	p := newHelper(t, "serve", Config{NewGroup: true, DieWithParent: true})
	startUp(t, p)
	if pgid, err := syscall.Getpgid(p.PID()); err != nil || pgid != p.PID() {
		t.Errorf("process group %d (%v), want its own, %d", pgid, err, p.PID())
	}
	p.Close()
	if p.State() != Running {
		t.Error("Close changed the state")
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
}

func TestTailWithoutLog(t *testing.T) {
	p := New(Config{Name: "x", LogDir: t.TempDir()})
	if got := p.Tail(3); !strings.HasPrefix(got, "(no log:") {
		t.Errorf("Tail before a start = %q", got)
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done before a start is not closed")
	}
}

// syncBuffer is a bytes.Buffer safe for the output goroutine and the
// test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
