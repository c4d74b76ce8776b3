package storage

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/fjordlog/fjord/internal/vfs"
)

func TestOffsetCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := map[TopicPartition]int64{
		{"orders", 0}:              42,
		{"orders", 12}:             0,
		{"my-topic.v2", 3}:         1 << 40,
		{"__consumer_offsets", 49}: 7,
	}
	must(t, writeOffsetCheckpoint(vfs.Default, dir, recoveryPointFile, want))
	got, err := readOffsetCheckpoint(vfs.Default, filepath.Join(dir, recoveryPointFile))
	must(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, recoveryPointFile+".tmp")); !os.IsNotExist(err) {
		t.Fatal("temporary file left behind")
	}
	none, err := readOffsetCheckpoint(vfs.Default, filepath.Join(dir, "missing"))
	if err != nil || len(none) != 0 {
		t.Fatalf("missing file: %v %v", none, err)
	}
}

func TestOffsetCheckpointFormat(t *testing.T) {
	dir := t.TempDir()
	must(t, writeOffsetCheckpoint(vfs.Default, dir, "cp", map[TopicPartition]int64{{"a", 1}: 5}))
	data, err := os.ReadFile(filepath.Join(dir, "cp"))
	must(t, err)
	if string(data) != "0\n1\na 1 5\n" {
		t.Fatalf("file %q", data)
	}
}

func TestOffsetCheckpointMalformed(t *testing.T) {
	for _, content := range []string{
		"",
		"1\n0\n",
		"0\n2\na 1 5\n",
		"0\n1\na 1\n",
		"0\n1\na x 5\n",
		"0\n1\na 1 y\n",
		"zero\n1\na 1 5\n",
	} {
		path := filepath.Join(t.TempDir(), "cp")
		must(t, os.WriteFile(path, []byte(content), 0o644))
		if _, err := readOffsetCheckpoint(vfs.Default, path); err == nil {
			t.Errorf("accepted %q", content)
		}
	}
}
