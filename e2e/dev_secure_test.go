package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/clientsec"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDevSecure runs `fjord dev --secure` on free ports: once up it prints
// SCRAM-SHA-512 settings for kcat and writes client.properties, with
// which `fjord topic create`, `fjord produce` and `fjord consume`
// (--command-config) and kcat work; plaintext clients and a wrong password
// are refused. Restarted, it reuses its CA and passwords: the same
// client.properties still reads every record.
func TestDevSecure(t *testing.T) {
	port := devPorts(t)
	dataDir := t.TempDir()
	bootstrap := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", port, port+1, port+2)
	props := filepath.Join(dataDir, "client.properties")

	dev := startDevSecure(t, dataDir, port, bootstrap)
	kcatArgs := dev.kcatArgs(t)
	ca := readFileT(t, filepath.Join(dataDir, "tls", "ca.pem"))
	want := []string{"one", "two", "three", "four", "five"}
	runFjordCLI(t, nil, "--command-config", props, "-b", bootstrap, "topic", "create", "devsecure", "--partitions", "3")
	runFjordCLI(t, strings.NewReader(strings.Join(want, "\n")+"\n"), "--command-config", props, "-b", bootstrap, "produce", "devsecure")
	checkDevSecureConsume(t, props, bootstrap, want)
	if kcat, err := exec.LookPath("kcat"); err != nil {
		t.Log("kcat not installed: skipping the kcat checks")
	} else {
		want = checkDevSecureKcat(t, kcat, kcatArgs, want)
	}
	checkDevSecureRefused(t, bootstrap, filepath.Join(dataDir, "tls", "ca.pem"))
	dev.stop(t)

	dev = startDevSecure(t, dataDir, port, bootstrap)
	if !slices.Equal(dev.kcatArgs(t), kcatArgs) || readFileT(t, filepath.Join(dataDir, "tls", "ca.pem")) != ca {
		t.Errorf("restarted: settings %v and a new CA, want the first start's %v", dev.kcatArgs(t), kcatArgs)
	}
	checkDevSecureConsume(t, props, bootstrap, want)
	dev.stop(t)
}

// devSecureProc is a running `fjord dev --secure`.
type devSecureProc struct {
	cmd     *exec.Cmd
	outPath string
	exited  chan error
	stopped bool
}

// startDevSecure starts `fjord dev --secure` and waits until it has
// printed its kcat settings (after which it serves them).
func startDevSecure(t *testing.T, dataDir string, port int, bootstrap string) *devSecureProc {
	t.Helper()
	d := &devSecureProc{outPath: filepath.Join(t.TempDir(), "dev.out"), exited: make(chan error, 1)}
	out, err := os.Create(d.outPath)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(fjordBin, "dev", "--secure", "--data-dir", dataDir, "--port", strconv.Itoa(port))
	d.cmd.Stdout, d.cmd.Stderr = out, out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait(); out.Close() }()
	t.Cleanup(func() { d.cleanup(t) })
	started := time.Now()
	waitFor(t, readyTimeout+30*time.Second, "fjord dev --secure to print its settings", func() (bool, string) {
		select {
		case err := <-d.exited:
			d.stopped = true
			t.Fatalf("fjord dev --secure exited early: %v", err)
		default:
		}
		o := d.output()
		return strings.Contains(o, "Bootstrap: "+bootstrap) && d.kcatLine() != "", "no bootstrap and kcat lines yet"
	})
	t.Logf("fjord dev --secure up in %v", time.Since(started).Round(time.Millisecond))
	return d
}

func (d *devSecureProc) output() string {
	b, _ := os.ReadFile(d.outPath)
	return string(b)
}

// kcatLine returns the printed kcat command line, "" if none yet.
func (d *devSecureProc) kcatLine() string {
	for _, l := range strings.Split(d.output(), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "kcat -b ") && strings.HasSuffix(l, " -L") {
			return l
		}
	}
	return ""
}

// kcatArgs returns the printed kcat settings: -b and the -X flags.
func (d *devSecureProc) kcatArgs(t *testing.T) []string {
	t.Helper()
	f := strings.Fields(d.kcatLine())
	if len(f) < 4 || strings.Contains(d.kcatLine(), "'") {
		t.Fatalf("kcat line %q: want kcat -b ... -L with no quoted words", d.kcatLine())
	}
	args := f[1 : len(f)-1]
	for _, x := range []string{"security.protocol=SASL_SSL", "sasl.mechanisms=SCRAM-SHA-512", "sasl.username=admin"} {
		if !slices.Contains(args, x) {
			t.Errorf("kcat settings %v lack %s", args, x)
		}
	}
	return args
}

// stop sends SIGINT and expects status 0 within 10 s.
func (d *devSecureProc) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		d.stopped = true
		if err != nil {
			t.Errorf("fjord dev --secure exited with %v after SIGINT, want status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fjord dev --secure did not stop within 10 s of SIGINT")
	}
}

func (d *devSecureProc) cleanup(t *testing.T) {
	if !d.stopped {
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	if t.Failed() {
		t.Logf("fjord dev --secure output (tail):\n%s", tail(d.output(), 120))
	}
}

// runFjordCLI runs a fjord client command with stdin and returns its
// stdout, failing the test if it fails. FJORD_* variables of the test's
// environment are left out.
func runFjordCLI(t *testing.T, stdin *strings.Reader, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, fjordBin, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "FJORD_") })
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("fjord %s: %v\nstderr:\n%s", strings.Join(args, " "), err, tail(stderr.String(), 40))
	}
	return stdout.String()
}

// checkDevSecureConsume reads the topic from the beginning with `fjord
// consume --command-config` and expects exactly want.
func checkDevSecureConsume(t *testing.T, props, bootstrap string, want []string) {
	t.Helper()
	out := runFjordCLI(t, nil, "--command-config", props, "-b", bootstrap, "consume", "devsecure",
		"--from-beginning", "--max-messages", strconv.Itoa(len(want)), "--timeout", "20s")
	got := strings.Fields(out)
	slices.Sort(got)
	if w := slices.Sorted(slices.Values(want)); !slices.Equal(got, w) {
		t.Errorf("fjord consume read %v, want %v", got, w)
	}
}

// checkDevSecureKcat produces with kcat and the printed settings, reads
// every record back and returns the topic's records now.
func checkDevSecureKcat(t *testing.T, kcat string, sec, before []string) []string {
	t.Helper()
	var in bytes.Buffer
	want := slices.Clone(before)
	for i := range 20 {
		line := fmt.Sprintf("kcat-%02d", i)
		in.WriteString(line + "\n")
		want = append(want, line)
	}
	runKcat(t, kcat, &in, append(slices.Clone(sec), "-P", "-t", "devsecure", "-X", "acks=all")...)
	got := strings.Fields(runKcat(t, kcat, nil, append(slices.Clone(sec), "-C", "-t", "devsecure", "-o", "beginning", "-e", "-q")...))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("kcat read %v, want %v", got, want)
	}
	return want
}

// checkDevSecureRefused: a plaintext client gets no answer, nor does a
// TLS client with a wrong SCRAM password.
func checkDevSecureRefused(t *testing.T, bootstrap, caPath string) {
	t.Helper()
	bad, err := clientsec.Props{
		"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
		"sasl.username": "admin", "sasl.password": "wrong", "ssl.ca.location": caPath,
	}.Options()
	if err != nil {
		t.Fatal(err)
	}
	for what, opts := range map[string][]kgo.Opt{"a plaintext client": nil, "a wrong password": bad} {
		cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(strings.Split(bootstrap, ",")...),
			kgo.DialTimeout(2*time.Second), kgo.RequestRetries(1), kgo.RetryTimeout(5*time.Second))...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_, err = kadm.NewClient(cl).ListBrokers(ctx)
		cancel()
		cl.Close()
		if err == nil {
			t.Errorf("%s listed the brokers of fjord dev --secure", what)
		} else {
			t.Logf("%s refused: %v", what, err)
		}
	}
}

func readFileT(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
