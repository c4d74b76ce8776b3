package main

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestDeleteRecordsOutput(t *testing.T) {
	asked, err := parseDeleteRecordsJSON([]byte(`{"partitions":[{"topic":"t","partition":1,"offset":-1},` +
		`{"topic":"t","partition":0,"offset":5},{"topic":"a","partition":0,"offset":9}],"version":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resps := kadm.DeleteRecordsResponses{
		"t": {0: {Topic: "t", Partition: 0, LowWatermark: 5}, 1: {Topic: "t", Partition: 1, LowWatermark: 42}},
		"a": {0: {Topic: "a", Partition: 0, LowWatermark: -1, Err: kerr.OffsetOutOfRange}},
	}
	var buf bytes.Buffer
	if err := writeDeleteRecords(&buf, asked, resps); err == nil {
		t.Fatal("a partition's error was not returned")
	}
	checkGolden(t, "topic_delete_records.golden", buf.Bytes())
}

func TestDeleteRecordsTargets(t *testing.T) {
	o, err := deleteRecordsTargets(deleteRecordsOpts{topic: "t", partition: 2, offset: 7})
	if got, ok := o.Lookup("t", 2); err != nil || !ok || got.At != 7 {
		t.Fatalf("flags: %+v, %v", o, err)
	}
	for _, bad := range []deleteRecordsOpts{{}, {topic: "t", offsetJSON: "f.json"}} {
		if _, err := deleteRecordsTargets(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	for _, bad := range []string{`{}`, `{"partitions":[{"topic":"t","partition":0,"offset":1},{"topic":"t","partition":0,"offset":2}]}`, `[`} {
		if _, err := parseDeleteRecordsJSON([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestClusterLogDirsOutput(t *testing.T) {
	part := func(b int32, dir, topic string, p int32, size int64) kadm.DescribedLogDirPartition {
		return kadm.DescribedLogDirPartition{Broker: b, Dir: dir, Topic: topic, Partition: p, Size: size}
	}
	all := kadm.DescribedAllLogDirs{
		2: {"/data/2": {Broker: 2, Dir: "/data/2", Topics: kadm.DescribedLogDirTopics{
			"t": {1: part(2, "/data/2", "t", 1, 300), 0: part(2, "/data/2", "t", 0, 123)},
			"a": {0: part(2, "/data/2", "a", 0, 0)},
		}}},
		1: {
			"/data/1b": {Broker: 1, Dir: "/data/1b", Err: kerr.KafkaStorageError},
			"/data/1a": {Broker: 1, Dir: "/data/1a", Topics: kadm.DescribedLogDirTopics{"t": {0: part(1, "/data/1a", "t", 0, 123)}}},
		},
	}
	var buf bytes.Buffer
	if err := writeLogDirsJSON(&buf, all); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "cluster_log_dirs.golden", buf.Bytes())
}
