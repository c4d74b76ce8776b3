package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Net places every node of a Cluster in its own network namespace, so that
// partitions are real packet drops (F7, F8). Node i (1-based) lives in
// namespace <prefix>n<i> with one veth interface, eth0, addressed
// <subnet>.<i>/24; the other ends hang on a bridge <prefix>br in the root
// namespace, addressed <subnet>.254, which is the harness's (the clients')
// address. The subnet is a /24 of 10.233.0.0/16 that no interface of the
// root namespace uses; the node namespaces have no other route, so no packet
// leaves the bridge. Each namespace holds an nftables table "inet chaos"
// with an input and an output chain whose drop rules are the faults.
type Net struct {
	Prefix string // names of the namespaces, veths and bridge
	Subnet string // e.g. "10.233.7"
	Bridge string
	NS     []string // NS[i] is node i+1's namespace

	mu     sync.Mutex
	closed bool
}

// ClientAddr is the harness's own address on the bridge.
func (n *Net) ClientAddr() string { return n.Subnet + ".254" }

// Addr is node id's address.
func (n *Net) Addr(id int32) string { return fmt.Sprintf("%s.%d", n.Subnet, id) }

// NetnsAvailable says why nodes cannot run in network namespaces here
// (nil if they can): it needs root, ip (iproute2) and nft (nftables), and
// tries creating a namespace.
func NetnsAvailable() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	for _, bin := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("network namespaces need %s (apt-get install iproute2 nftables): %v", bin, err)
		}
	}
	name := fmt.Sprintf("fjc%dprobe", os.Getpid())
	if err := sh("ip", "netns", "add", name); err != nil {
		return fmt.Errorf("cannot create a network namespace: %v", err)
	}
	defer sh("ip", "netns", "del", name)
	if err := sh("ip", "netns", "exec", name, "nft", "list", "ruleset"); err != nil {
		return fmt.Errorf("nftables does not work in a network namespace: %v", err)
	}
	return nil
}

// sh runs a command, returning its output in the error if it fails.
func sh(name string, args ...string) error {
	return shIn(nil, name, args...)
}

func shIn(stdin []byte, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// nsName matches the namespaces Net creates; the number is the pid of
// the harness that created it.
var nsName = regexp.MustCompile(`^fjc(\d+)n\d+$`)

// cleanStale deletes namespaces and bridges left by harnesses that died
// without cleaning up (SIGKILL): those whose pid no longer exists.
func cleanStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := nsName.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue
		}
		_ = sh("ip", "netns", "del", f[0])
		_ = sh("ip", "link", "del", "fjc"+m[1]+"br")
	}
}

// freeSubnet picks a /24 of 10.233.0.0/16 no root-namespace interface
// has an address in, starting from one derived from the pid.
func freeSubnet() (string, error) {
	out, err := exec.Command("ip", "-4", "-o", "addr", "show").Output()
	if err != nil {
		return "", err
	}
	start := os.Getpid() % 250
	for i := range 250 {
		s := fmt.Sprintf("10.233.%d", (start+i)%250+1)
		if !strings.Contains(string(out), " "+s+".") {
			return s, nil
		}
	}
	return "", errors.New("no free /24 in 10.233.0.0/16")
}

// NewNet creates the bridge and n namespaces; Close deletes them. On
// error everything created so far is deleted.
func NewNet(n int) (_ *Net, err error) {
	cleanStale()
	subnet, err := freeSubnet()
	if err != nil {
		return nil, err
	}
	prefix := "fjc" + strconv.Itoa(os.Getpid())
	if len(prefix)+4 > 15 { // interface names are at most 15 bytes
		prefix = prefix[:11]
	}
	nt := &Net{Prefix: prefix, Subnet: subnet, Bridge: prefix + "br"}
	defer func() {
		if err != nil {
			nt.Close()
		}
	}()
	cmds := [][]string{
		{"ip", "link", "add", nt.Bridge, "type", "bridge"},
		{"ip", "addr", "add", nt.ClientAddr() + "/24", "dev", nt.Bridge},
		{"ip", "link", "set", nt.Bridge, "up"},
	}
	for _, c := range cmds {
		if err := sh(c[0], c[1:]...); err != nil {
			return nil, err
		}
	}
	for i := 1; i <= n; i++ {
		ns, veth := fmt.Sprintf("%sn%d", prefix, i), fmt.Sprintf("%sv%d", prefix, i)
		if err := sh("ip", "netns", "add", ns); err != nil {
			return nil, err
		}
		nt.NS = append(nt.NS, ns)
		cmds := [][]string{
			{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
			{"ip", "link", "set", veth, "master", nt.Bridge},
			{"ip", "link", "set", veth, "up"},
			{"ip", "-n", ns, "link", "set", "lo", "up"},
			{"ip", "-n", ns, "addr", "add", nt.Addr(int32(i)) + "/24", "dev", "eth0"},
			{"ip", "-n", ns, "link", "set", "eth0", "up"},
		}
		for _, c := range cmds {
			if err := sh(c[0], c[1:]...); err != nil {
				return nil, err
			}
		}
		table := "table inet chaos {\n" +
			" chain in { type filter hook input priority 0; policy accept; }\n" +
			" chain out { type filter hook output priority 0; policy accept; }\n}\n"
		if err := shIn([]byte(table), "ip", "netns", "exec", ns, "nft", "-f", "-"); err != nil {
			return nil, err
		}
	}
	return nt, nil
}

// Command returns a command running name in node id's namespace (ip netns
// exec execs it in place, so the process is the node itself).
func (n *Net) Command(id int32, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.NS[id-1], name}, args...)...)
}

// Drop makes node id drop packets: arriving from the addresses in from,
// and leaving to the addresses in to. The rules stay until Heal.
func (n *Net) Drop(id int32, from, to []string) error {
	var script strings.Builder
	if len(from) > 0 {
		fmt.Fprintf(&script, "add rule inet chaos in ip saddr { %s } drop\n", strings.Join(from, ", "))
	}
	if len(to) > 0 {
		fmt.Fprintf(&script, "add rule inet chaos out ip daddr { %s } drop\n", strings.Join(to, ", "))
	}
	if script.Len() == 0 {
		return nil
	}
	return shIn([]byte(script.String()), "ip", "netns", "exec", n.NS[id-1], "nft", "-f", "-")
}

// Refuse makes node id answer every TCP packet from the addresses in from
// with a reset: new connections from them are refused and established
// ones end at their next packet, while the process lives on (as when its
// listeners are restarted).
func (n *Net) Refuse(id int32, from []string) error {
	if len(from) == 0 {
		return nil
	}
	script := fmt.Sprintf("add rule inet chaos in ip saddr { %s } meta l4proto tcp reject with tcp reset\n", strings.Join(from, ", "))
	return shIn([]byte(script), "ip", "netns", "exec", n.NS[id-1], "nft", "-f", "-")
}

// Heal removes every drop rule of every node.
func (n *Net) Heal() error {
	var errs []error
	for _, ns := range n.NS {
		errs = append(errs, shIn([]byte("flush chain inet chaos in\nflush chain inet chaos out\n"),
			"ip", "netns", "exec", ns, "nft", "-f", "-"))
	}
	return errors.Join(errs...)
}

// Close deletes the veths, the namespaces and the bridge.
// It is idempotent; the node processes must be gone first.
func (n *Net) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.closed = true
	for i, ns := range n.NS {
		// Deleting the root-side veth destroys the pair now; a deleted
		// namespace's interfaces go only once the kernel reaps it.
		_ = sh("ip", "link", "del", fmt.Sprintf("%sv%d", n.Prefix, i+1))
		_ = sh("ip", "netns", "del", ns)
	}
	_ = sh("ip", "link", "del", n.Bridge)
}
