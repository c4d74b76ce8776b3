package broker

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// metaFile is the per-log-dir identity file Kafka calls meta.properties.
const metaFile = "meta.properties"

// newClusterID returns a random 16-byte id in Kafka's base64 form.
func newClusterID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkMeta reads meta.properties in each dir and checks that every one
// names the same cluster and this node; dirs without one are stamped with
// clusterID (or a new id when none is known yet). It returns the cluster id.
func checkMeta(dirs []string, nodeID int32, clusterID string) (string, error) {
	var missing []string
	for _, dir := range dirs {
		id, node, err := readMeta(dir)
		if os.IsNotExist(err) {
			missing = append(missing, dir)
			continue
		}
		if err != nil {
			return "", err
		}
		if node != nodeID {
			return "", fmt.Errorf("%s: node.id %d in %s does not match configured node.id %d", dir, node, metaFile, nodeID)
		}
		if clusterID != "" && id != clusterID {
			return "", fmt.Errorf("%s: cluster.id %s in %s does not match %s", dir, id, metaFile, clusterID)
		}
		clusterID = id
	}
	if clusterID == "" {
		clusterID = newClusterID()
	}
	for _, dir := range missing {
		if err := writeMeta(dir, nodeID, clusterID); err != nil {
			return "", err
		}
	}
	return clusterID, nil
}

func readMeta(dir string) (string, int32, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return "", 0, err
	}
	var id string
	node := int64(-1)
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch k {
		case "cluster.id":
			id = v
		case "node.id":
			node, _ = strconv.ParseInt(v, 10, 32)
		}
	}
	if id == "" || node < 0 {
		return "", 0, fmt.Errorf("%s: malformed %s", dir, metaFile)
	}
	return id, int32(node), nil
}

func writeMeta(dir string, nodeID int32, clusterID string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	content := fmt.Sprintf("#\nversion=1\ncluster.id=%s\nnode.id=%d\n", clusterID, nodeID)
	tmp := filepath.Join(dir, metaFile+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, metaFile))
}
