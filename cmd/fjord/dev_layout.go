package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The layout of a `fjord dev` cluster: which ports it uses and where its
// data lives. The cluster id of a dev cluster derives from its controller
// voters (their ports), so a data dir belongs to one --port and --nodes:
// the default data dir differs per port, and the dir records the flags it
// was made with (devLayoutFile) so that a mismatch is reported in terms
// of those flags instead of as a cluster.id mismatch.

const (
	devDefaultPort    = 9092
	devDefaultDataDir = "./fjord-data"
	devLayoutFile     = "dev.properties"
	maxPort           = 65535
)

// devPortBlocks are the port ranges of `fjord dev --port P`: node i
// (1-based) listens on P+offset+i-1 in each block.
var devPortBlocks = []struct {
	name   string
	offset int
}{
	{"Kafka", 0},
	{"controller", 10000},
	{"metrics", 20000},
}

// checkDevPorts checks that every port of nodes nodes from port lies in
// 1..65535, and names the --port values that fit otherwise.
func checkDevPorts(port, nodes int) error {
	top := 0
	for _, b := range devPortBlocks {
		top = max(top, b.offset)
	}
	highest := maxPort - top - (nodes - 1)
	if highest < 1 {
		return fmt.Errorf("--nodes %d: %d nodes need more ports than there are", nodes, nodes)
	}
	for _, b := range devPortBlocks {
		first, last := port+b.offset, port+b.offset+nodes-1
		if first < 1 || last > maxPort {
			return fmt.Errorf("--port %d: the %s ports of %d nodes would be %d-%d, outside 1-%d (fjord dev uses --port+%d.. for them); choose a --port from 1 to %d",
				port, b.name, nodes, first, last, maxPort, b.offset, highest)
		}
	}
	return nil
}

// devDataDir is the data dir of --data-dir dir (empty: not given) and
// --port port: ./fjord-data for the default port, ./fjord-data-<port>
// otherwise, so that dev clusters on other ports never share a dir.
func devDataDir(dir string, port int) string {
	switch {
	case dir != "":
		return dir
	case port == devDefaultPort:
		return devDefaultDataDir
	}
	return fmt.Sprintf("%s-%d", devDefaultDataDir, port)
}

// devLayout is what a dev data dir was made with.
type devLayout struct {
	port, nodes int
}

// readDevLayout reads dir's layout file; ok is false when there is none
// (a new dir, or one made by a fjord dev that did not write it).
func readDevLayout(dir string) (l devLayout, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, devLayoutFile))
	if errors.Is(err, os.ErrNotExist) {
		return devLayout{}, false, nil
	}
	if err != nil {
		return devLayout{}, false, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		n, _ := strconv.Atoi(v)
		switch k {
		case "port":
			l.port = n
		case "nodes":
			l.nodes = n
		}
	}
	if l.port <= 0 || l.nodes <= 0 {
		return devLayout{}, false, fmt.Errorf("%s: malformed %s (remove it to start the cluster in it anyway)", dir, devLayoutFile)
	}
	return l, true, nil
}

// checkDevLayout refuses to start a dev cluster on a data dir made with
// other flags, saying which flags its cluster needs.
func checkDevLayout(dir string, port, nodes int) error {
	l, ok, err := readDevLayout(dir)
	if err != nil || !ok || (l == devLayout{port, nodes}) {
		return err
	}
	return fmt.Errorf("%s holds the fjord dev cluster made with --port %d --nodes %d (its cluster id follows from its ports), not --port %d --nodes %d.\n"+
		"Start that cluster with: fjord dev --data-dir %s --port %d --nodes %d\n"+
		"or start a new one in another directory (--data-dir DIR), or remove %s first",
		dir, l.port, l.nodes, port, nodes, dir, l.port, l.nodes, dir)
}

// writeDevLayout records the flags of the cluster now running in dir.
func writeDevLayout(dir string, port, nodes int) error {
	content := fmt.Sprintf("# fjord dev: the cluster in this directory was made with these flags\nport=%d\nnodes=%d\n", port, nodes)
	return os.WriteFile(filepath.Join(dir, devLayoutFile), []byte(content), 0o644)
}

// devStartHint explains a cluster.id mismatch on a data dir without a
// layout file (made by an older fjord dev): the usual cause is an earlier
// cluster with other --port or --nodes.
func devStartHint(dir string, err error) error {
	if err == nil || !strings.Contains(err.Error(), "cluster.id") {
		return err
	}
	if _, ok, _ := readDevLayout(dir); ok {
		return err
	}
	return fmt.Errorf("%w\n%s holds a cluster made by an earlier fjord dev with another --port or --nodes: "+
		"start it with those flags, or start a new one in another directory (--data-dir DIR), or remove %s first", err, dir, dir)
}
