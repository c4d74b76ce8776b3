package main

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func clusterPart(topic string, p, leader int32, replicas ...int32) kadm.PartitionDetail {
	return kadm.PartitionDetail{Topic: topic, Partition: p, Leader: leader, Replicas: replicas, ISR: replicas}
}

func clusterTopic(name string, parts ...kadm.PartitionDetail) kadm.TopicDetail {
	td := kadm.TopicDetail{Topic: name, Partitions: kadm.PartitionDetails{}}
	for _, p := range parts {
		td.Partitions[p.Partition] = p
	}
	return td
}

func TestWriteClusterDescribe(t *testing.T) {
	rack := "r1"
	md := kadm.Metadata{
		Cluster:    "abc123",
		Controller: 2,
		// Unsorted on purpose; broker 3 is fenced (absent) but holds replicas.
		Brokers: kadm.BrokerDetails{
			{NodeID: 2, Host: "127.0.0.1", Port: 9093},
			{NodeID: 1, Host: "127.0.0.1", Port: 9092, Rack: &rack},
		},
		Topics: kadm.TopicDetails{
			"a": clusterTopic("a",
				clusterPart("a", 0, 1, 1, 2, 3),
				clusterPart("a", 1, 2, 2, 3, 1),
				clusterPart("a", 2, 1, 3, 1, 2),
				clusterPart("a", 3, -1, 3),
			),
			"b":    clusterTopic("b", clusterPart("b", 0, 2, 2)),
			"gone": {Topic: "gone", Err: kerr.UnknownTopicOrPartition},
		},
	}
	var buf bytes.Buffer
	writeClusterDescribe(&buf, md)
	want := "Cluster ID: abc123\n" +
		"Controller: 2\n" +
		"Topics: 2\tPartitions: 5\n" +
		"Brokers:\n" +
		"  1\t127.0.0.1:9092\track=r1\tleaders=2\treplicas=3\n" +
		"  2\t127.0.0.1:9093\track=-\tleaders=2\treplicas=4\n" +
		"  3\t-\track=-\tleaders=0\treplicas=4\toffline\n"
	if got := buf.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteClusterDescribeEmpty(t *testing.T) {
	var buf bytes.Buffer
	writeClusterDescribe(&buf, kadm.Metadata{Controller: -1})
	want := "Cluster ID: -\nController: none\nTopics: 0\tPartitions: 0\nBrokers:\n"
	if got := buf.String(); got != want {
		t.Errorf("got:\n%q\nwant:\n%q", got, want)
	}
}

func TestClusterDescribeRegistered(t *testing.T) {
	cmd, rest, err := rootCmd.Find([]string{"cluster", "describe"})
	if err != nil || len(rest) != 0 || cmd.Name() != "describe" || cmd.Parent().Name() != "cluster" {
		t.Fatalf("fjord cluster describe not registered: %v %v %v", cmd, rest, err)
	}
	if cmd.Flags().Lookup("timeout") == nil && cmd.InheritedFlags().Lookup("timeout") == nil {
		t.Error("cluster describe has no --timeout flag")
	}
	if err := cmd.Args(cmd, []string{"extra"}); err == nil {
		t.Error("cluster describe accepted a positional argument")
	}
}
