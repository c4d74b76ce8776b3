package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configsNode is node 1 with static log.retention.hours=2 and
// message.max.bytes=5000, topic t without overrides, and the dynamic
// configs given.
func configsNode(t *testing.T, perBroker, defaults map[string]string) (*Handlers, *recordingAdmin) {
	t.Helper()
	cfg, err := config.NewBroker(map[string]string{"log.retention.hours": "2", "message.max.bytes": "5000"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDynamic(perBroker, defaults)
	img, _, err := metadata.Empty().Apply(1, []metadata.Record{
		metadata.Topic{Name: "t", ID: metadata.UUID{1}},
		metadata.Partition{TopicID: metadata.UUID{1}, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctl := &recordingAdmin{}
	h := New(Deps{NodeID: 1, Config: cfg, Image: func() *metadata.Image { return img }, Partitions: noReplicas{},
		Controller: ctl, Logger: slog.New(slog.DiscardHandler)})
	return h, ctl
}

// recordingAdmin is an active controller that records config changes and
// answers them with err.
type recordingAdmin struct {
	Controller // other methods are not called
	got        []controller.AlterConfigs
	err        error
}

func (r *recordingAdmin) AlterConfigs(_ context.Context, reqs []controller.AlterConfigs) ([]error, error) {
	r.got = append(r.got, reqs...)
	errs := make([]error, len(reqs))
	for i := range errs {
		errs[i] = r.err
	}
	return errs, nil
}
func (r *recordingAdmin) IsActive() bool       { return true }
func (r *recordingAdmin) AppliedOffset() int64 { return 1 }
func (r *recordingAdmin) ActiveID() int32      { return 1 }

func describeConfigs(t *testing.T, h *Handlers, typ kmsg.ConfigResourceType, name string, names ...string) kmsg.DescribeConfigsResponseResource {
	t.Helper()
	r := versioned(kmsg.NewPtrDescribeConfigsRequest(), 4)
	r.IncludeSynonyms = true
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName, res.ConfigNames = typ, name, names
	r.Resources = append(r.Resources, res)
	return serve(t, h, r).(*kmsg.DescribeConfigsResponse).Resources[0]
}

// describeString renders configs as name=value(source)[synonyms] ro.
func describeString(cs []kmsg.DescribeConfigsResponseResourceConfig) string {
	var b strings.Builder
	for _, c := range cs {
		v := "null"
		if c.Value != nil {
			v = *c.Value
		}
		fmt.Fprintf(&b, "%s=%s(%d)", c.Name, v, c.Source)
		for _, s := range c.ConfigSynonyms {
			fmt.Fprintf(&b, " %s=%s(%d)", s.Name, *s.Value, s.Source)
		}
		if c.ReadOnly {
			b.WriteString(" ro")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestDescribeBrokerConfigs(t *testing.T) {
	h, _ := configsNode(t, map[string]string{"message.max.bytes": "7000"}, map[string]string{"log.retention.ms": "1000", "message.max.bytes": "6000"})
	res := describeConfigs(t, h, kmsg.ConfigResourceTypeBroker, "1", "log.retention.ms", "log.retention.hours", "message.max.bytes", "node.id")
	want := "node.id=1(5) node.id=1(5) ro\n" +
		"message.max.bytes=7000(2) message.max.bytes=7000(2) message.max.bytes=6000(3) message.max.bytes=5000(4) message.max.bytes=1048588(5)\n" +
		"log.retention.ms=1000(3) log.retention.ms=1000(3) log.retention.hours=2(4) log.retention.hours=168(5)\n" +
		"log.retention.hours=2(4) log.retention.hours=2(4) log.retention.hours=168(5) ro\n"
	if res.ErrorCode != 0 || describeString(res.Configs) != want {
		t.Errorf("broker 1 (error %d):\n%s\nwant:\n%s", res.ErrorCode, describeString(res.Configs), want)
	}

	res = describeConfigs(t, h, kmsg.ConfigResourceTypeBroker, "")
	want = "log.retention.ms=1000(3) log.retention.ms=1000(3)\nmessage.max.bytes=6000(3) message.max.bytes=6000(3)\n"
	if res.ErrorCode != 0 || describeString(res.Configs) != want {
		t.Errorf("cluster default (error %d):\n%s\nwant:\n%s", res.ErrorCode, describeString(res.Configs), want)
	}

	for _, name := range []string{"2", "x"} {
		if res := describeConfigs(t, h, kmsg.ConfigResourceTypeBroker, name); res.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("broker %q: error %d", name, res.ErrorCode)
		}
	}
}

// A topic without its own retention.ms reports the dynamic default.
func TestDescribeTopicConfigsDynamicDefault(t *testing.T) {
	h, _ := configsNode(t, nil, map[string]string{"log.retention.ms": "1000"})
	res := describeConfigs(t, h, kmsg.ConfigResourceTypeTopic, "t", "retention.ms", "max.message.bytes")
	want := "max.message.bytes=5000(4) message.max.bytes=5000(4) message.max.bytes=1048588(5)\n" +
		"retention.ms=1000(3) log.retention.ms=1000(3) log.retention.hours=2(4) log.retention.hours=168(5)\n"
	if got := describeString(res.Configs); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestAlterBrokerConfigsRequests(t *testing.T) {
	h, ctl := configsNode(t, nil, nil)
	r := versioned(kmsg.NewPtrIncrementalAlterConfigsRequest(), 1)
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBroker, ""
	set := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	set.Name, set.Value = "log.retention.ms", kmsg.StringPtr("1000")
	del := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	del.Name, del.Op = "message.max.bytes", kmsg.IncrementalAlterConfigOpDelete
	res.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{set, del}
	bad := res
	bad.ResourceName = "1"
	null := set
	null.Value = nil
	bad.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{null}
	r.Resources = []kmsg.IncrementalAlterConfigsRequestResource{res, bad}
	resp := serve(t, h, r).(*kmsg.IncrementalAlterConfigsResponse)
	if resp.Resources[0].ErrorCode != 0 || resp.Resources[1].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("codes %d %d", resp.Resources[0].ErrorCode, resp.Resources[1].ErrorCode)
	}
	if len(ctl.got) != 1 || ctl.got[0].ResourceType != metadata.ResourceBroker || ctl.got[0].ResourceName != "" ||
		len(ctl.got[0].Ops) != 2 || ctl.got[0].Ops[1].Op != controller.OpDelete || !ctl.got[0].Incremental {
		t.Errorf("sent %+v", ctl.got)
	}

	// Legacy AlterConfigs: a full replacement; the controller's error is
	// the resource's.
	ctl.got, ctl.err = nil, fmt.Errorf("%w: cannot update these configs dynamically: node.id", kerr.InvalidRequest)
	lr := versioned(kmsg.NewPtrAlterConfigsRequest(), 2)
	lres := kmsg.NewAlterConfigsRequestResource()
	lres.ResourceType, lres.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
	lc := kmsg.NewAlterConfigsRequestResourceConfig()
	lc.Name, lc.Value = "node.id", kmsg.StringPtr("3")
	lres.Configs = append(lres.Configs, lc)
	lr.Resources = append(lr.Resources, lres)
	lresp := serve(t, h, lr).(*kmsg.AlterConfigsResponse)
	if lresp.Resources[0].ErrorCode != kerr.InvalidRequest.Code || !strings.Contains(*lresp.Resources[0].ErrorMessage, "node.id") {
		t.Errorf("legacy: %+v", lresp.Resources[0])
	}
	if len(ctl.got) != 1 || ctl.got[0].Incremental || ctl.got[0].ResourceName != "1" {
		t.Errorf("legacy sent %+v", ctl.got)
	}
}
