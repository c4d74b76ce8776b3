// Package nodeproc runs one long-lived child process — a node of a local
// cluster — through its life: start it, stop it with SIGTERM, kill it,
// pause and resume it (SIGSTOP, SIGCONT), start it again, and read the
// tail of its output. It is the one process harness of `fjord dev` and
// the chaos suite (DESIGN.md §9).
//
// A Proc runs one process at a time; every start is a new run with its
// own log file, LogDir/run-N.log (N from 1). One waiter goroutine per run
// reaps the process and ends with it. A Proc is safe for concurrent use.
package nodeproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// State is what the harness knows of the process.
type State int

// The states of a Proc.
const (
	Stopped State = iota // not running: never started, or exited (killed or on its own)
	Running
	Paused // SIGSTOPped
)

func (s State) String() string {
	switch s {
	case Running:
		return "running"
	case Paused:
		return "paused"
	}
	return "stopped"
}

// killWait bounds how long Kill waits for a SIGKILLed process to be
// reaped.
const killWait = 10 * time.Second

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("closed")

// StateError is returned by an action that does not fit the process's
// state, such as resuming a running process. Its text is for people.
type StateError struct {
	Name   string // Config.Name
	Action string // "start", "stop", "kill", "pause" or "resume"
	State  State  // the state the action found
}

func (e *StateError) Error() string {
	return fmt.Sprintf("cannot %s %s: it is %s", e.Action, e.Name, e.State)
}

// Config says how to run the process. Args and Env can be changed for
// later starts with SetArgs; the rest is fixed.
type Config struct {
	Name   string   // in errors, e.g. "node 2"
	Bin    string   // the program
	Args   []string // its arguments (without the program name)
	Env    []string // added to this process's environment (later entries win)
	LogDir string   // one file per run: run-N.log; created if missing
	// Command, if set, builds the command instead of exec.Command (for
	// example to run it inside a network namespace). Its SysProcAttr is
	// kept unless NewGroup or DieWithParent asks for one.
	Command func(bin string, args ...string) *exec.Cmd
	// Output, if set, receives the process's output (stdout and stderr,
	// one stream) besides the log file. It is called from one goroutine
	// per run; its errors are ignored.
	Output io.Writer
	// NewGroup puts the process in a process group of its own, so a
	// terminal's Ctrl-C reaches only this process, the harness.
	NewGroup bool
	// DieWithParent has the kernel SIGKILL the process when this process
	// dies (Linux; ignored elsewhere). See start for how it is made
	// reliable under Go's threads.
	DieWithParent bool
}

// Status is a snapshot of a Proc.
type Status struct {
	State State
	PID   int       // 0 when stopped
	Since time.Time // when State began; zero before the first start
	// LastExit says how the previous process ended: "exited" (status 0),
	// "exit status 1", "killed", "terminated" (the signal's name); empty
	// while the first one runs or before it starts.
	LastExit string
	Run      int // number of the current (or last) run; 0 before the first start
}

// Proc is one child process and its restarts.
type Proc struct {
	mu       sync.Mutex
	cfg      Config
	cmd      *exec.Cmd     // the current run's, nil when stopped
	exited   chan struct{} // closed when the current (last) run's process is reaped
	state    State
	since    time.Time
	lastExit string
	runs     int
	closed   bool
}

// New returns a stopped Proc that runs cfg.
func New(cfg Config) *Proc {
	done := make(chan struct{})
	close(done)
	cfg.Args = append([]string(nil), cfg.Args...)
	cfg.Env = append([]string(nil), cfg.Env...)
	return &Proc{cfg: cfg, exited: done}
}

// SetArgs sets the arguments and the added environment of the next
// starts; a running process keeps its own.
func (p *Proc) SetArgs(args, env []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.Args = append([]string(nil), args...)
	p.cfg.Env = append([]string(nil), env...)
}

// LogPath returns the log file of run n.
func (p *Proc) LogPath(run int) string {
	return filepath.Join(p.cfg.LogDir, fmt.Sprintf("run-%d.log", run))
}

// Status returns the process's state, PID, run and how the last one
// ended. A process that exited on its own is Stopped.
func (p *Proc) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Status{State: p.state, Since: p.since, LastExit: p.lastExit, Run: p.runs}
	if p.cmd != nil {
		st.PID = p.cmd.Process.Pid
	}
	return st
}

// State returns the process's state.
func (p *Proc) State() State { return p.Status().State }

// PID returns the running (or paused) process's id, 0 when stopped.
func (p *Proc) PID() int { return p.Status().PID }

// Since returns when the current state began.
func (p *Proc) Since() time.Time { return p.Status().Since }

// LastExit returns how the previous process ended (see Status).
func (p *Proc) LastExit() string { return p.Status().LastExit }

// Run returns the number of the current (or last) run: 1 for the first
// start, bumped by every start.
func (p *Proc) Run() int { return p.Status().Run }

// Done returns a channel closed once the current (or last) run's process
// has exited and been reaped; before the first start it is closed.
func (p *Proc) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// Close makes every later Start fail with ErrClosed; it does not signal
// the process (Stop or Kill it next). It may be called more than once.
func (p *Proc) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
}

// Start starts a new run: a StateError if the process runs or is
// paused, ErrClosed after Close.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != Stopped {
		return &StateError{p.cfg.Name, "start", p.state}
	}
	if p.closed {
		return fmt.Errorf("cannot start %s: %w", p.cfg.Name, ErrClosed)
	}
	if err := os.MkdirAll(p.cfg.LogDir, 0o755); err != nil {
		return err
	}
	out, err := os.Create(p.LogPath(p.runs + 1))
	if err != nil {
		return err
	}
	cmd := p.command(out)
	exited := make(chan struct{})
	if err := start(cmd, out, func(err error) { p.reaped(cmd, err, exited) }); err != nil {
		out.Close()
		return fmt.Errorf("starting %s: %w", p.cfg.Name, err)
	}
	p.runs++
	p.cmd, p.exited, p.state, p.since = cmd, exited, Running, time.Now()
	return nil
}

// command builds the command of a run writing its output to out (and
// Config.Output).
func (p *Proc) command(out *os.File) *exec.Cmd {
	c := p.cfg
	var cmd *exec.Cmd
	if c.Command != nil {
		cmd = c.Command(c.Bin, c.Args...)
	} else {
		cmd = exec.Command(c.Bin, c.Args...)
	}
	cmd.Env = append(os.Environ(), c.Env...)
	var w io.Writer = out
	if c.Output != nil {
		w = io.MultiWriter(out, ignoreErrors{c.Output})
		cmd.WaitDelay = 5 * time.Second // output copying ends soon after the process
	}
	cmd.Stdout, cmd.Stderr = w, w
	if c.NewGroup || c.DieWithParent {
		attr := &syscall.SysProcAttr{}
		if cmd.SysProcAttr != nil {
			cp := *cmd.SysProcAttr
			attr = &cp
		}
		attr.Setpgid = attr.Setpgid || c.NewGroup
		if c.DieWithParent {
			setPdeathsig(attr)
		}
		cmd.SysProcAttr = attr
	}
	return cmd
}

// start starts cmd from a new goroutine that stays locked to its OS
// thread until the process is reaped, then calls reaped with Wait's error
// (after closing out). It returns Start's error.
//
// The lock is for Config.DieWithParent: Linux sends the parent-death
// signal when the thread that forked the child exits, not the process.
// Go ends an OS thread only when a goroutine exits while locked to it, so
// an unlocked fork could land on a thread some other goroutine later
// locks and exits with — killing the child. Holding the forking thread
// for the child's life rules that out. The waiter blocks in wait(2)
// anyway, so the lock costs no extra thread.
func start(cmd *exec.Cmd, out *os.File, reaped func(error)) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		out.Close()
		reaped(err)
	}()
	return <-started
}

// reaped records that run cmd ended with Wait's err and closes exited.
// It is called by the run's waiter goroutine, its last act.
func (p *Proc) reaped(cmd *exec.Cmd, err error, exited chan struct{}) {
	p.mu.Lock()
	if p.cmd == cmd {
		p.cmd, p.state, p.since = nil, Stopped, time.Now()
		p.lastExit = exitString(err)
	}
	p.mu.Unlock()
	close(exited)
}

// exitString says how a process ended, from cmd.Wait's error.
func exitString(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exited"
	case errors.As(err, &ee):
		return strings.TrimPrefix(ee.Error(), "signal: ")
	}
	return err.Error()
}

// running returns the current run's command and exit channel, or a
// StateError for action if the process is stopped.
func (p *Proc) running(action string) (*exec.Cmd, <-chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil, nil, &StateError{p.cfg.Name, action, Stopped}
	}
	return p.cmd, p.exited, nil
}

// Kill SIGKILLs the process (a paused one dies too) and waits for it to
// be reaped: a StateError if it is stopped already.
func (p *Proc) Kill() error {
	cmd, exited, err := p.running("kill")
	if err != nil {
		return err
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-exited:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("%s did not exit within %v of SIGKILL", p.cfg.Name, killWait)
	}
}

// Stop resumes a paused process, sends it SIGTERM and waits for it to
// exit; when ctx ends first, it kills it. A StateError if it is stopped
// already.
func (p *Proc) Stop(ctx context.Context) error {
	_ = p.Resume() // a stopped process cannot act on SIGTERM; a running one needs no SIGCONT
	cmd, exited, err := p.running("stop")
	if err != nil {
		return err
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
	}
	if err := p.Kill(); err != nil && !errors.As(err, new(*StateError)) {
		return err
	}
	return nil
}

// Pause SIGSTOPs a running process: a StateError unless it runs.
func (p *Proc) Pause() error {
	return p.transition("pause", Running, Paused, syscall.SIGSTOP)
}

// Resume SIGCONTs a paused process: a StateError unless it is paused.
func (p *Proc) Resume() error {
	return p.transition("resume", Paused, Running, syscall.SIGCONT)
}

// transition sends sig to a process in state from and records state to.
func (p *Proc) transition(action string, from, to State, sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != from {
		return &StateError{p.cfg.Name, action, p.state}
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s %s: %w", action, p.cfg.Name, err)
	}
	p.state, p.since = to, time.Now()
	return nil
}

// Restart kills the process if it runs and starts it again.
func (p *Proc) Restart() error {
	if err := p.Kill(); err != nil && !errors.As(err, new(*StateError)) {
		return err
	}
	return p.Start()
}

// Tail returns the last n lines of the current (or last) run's log.
func (p *Proc) Tail(n int) string {
	b, err := os.ReadFile(p.LogPath(p.Run()))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ignoreErrors is a writer whose errors do not stop the log file's copy.
type ignoreErrors struct{ w io.Writer }

func (i ignoreErrors) Write(b []byte) (int, error) {
	_, _ = i.w.Write(b)
	return len(b), nil
}
