package handlers

// Authorization beyond the matrix: DENY and PREFIXED ACLs, super users,
// the filtering that keeps undescribable names out of responses, partial
// authorization of a request's topics, and the authorized-operations
// bitfields.

import (
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchCodes fetches topics as principal and returns each topic's code.
func fetchCodes(t *testing.T, n *authzNode, principal string, topics ...string) map[string]int16 {
	t.Helper()
	r := fetchReq(-1).(*kmsg.FetchRequest)
	p := r.Topics[0].Partitions[0]
	r.Topics = nil
	for _, name := range topics {
		r.Topics = append(r.Topics, kmsg.FetchRequestTopic{Topic: name, Partitions: []kmsg.FetchRequestTopicPartition{p}})
	}
	out := map[string]int16{}
	for _, rt := range fetchOf(n.call(t, principal, false, r)).Topics {
		out[rt.Topic] = rt.Partitions[0].ErrorCode
	}
	return out
}

func TestAuthzDenyOverridesAllow(t *testing.T) {
	n := newAuthzNode(t, forPrincipal(alice,
		topicGrant("t", opRead), deny(topicGrant("t", opRead)),
		topicGrant("other", opRead), deny(prefixed(topicGrant("oth", opRead))),
		topicGrant("secret", opRead), deny(grant(metadata.ACLResourceTopic, "*", opAll())),
		groupGrant("g", opRead), deny(groupGrant("g", opRead))))
	for topic, code := range fetchCodes(t, n, alice, "t", "other", "secret") {
		if code != kerr.TopicAuthorizationFailed.Code {
			t.Errorf("fetch %s: code %d, want TOPIC_AUTHORIZATION_FAILED", topic, code)
		}
	}
	if got := joinCode(n.call(t, alice, false, joinReq())); got != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("join: code %d, want GROUP_AUTHORIZATION_FAILED", got)
	}
	if got := fetchCodes(t, n, admin, "t"); got["t"] == kerr.TopicAuthorizationFailed.Code {
		t.Error("a super user was denied")
	}
}

func opAll() int8 { return metadata.ACLOpAll }

func TestAuthzPrefixedAndWildcard(t *testing.T) {
	n := newAuthzNode(t, append(
		forPrincipal(alice, prefixed(topicGrant("ot", opRead)), prefixed(topicGrant("t", opRead))),
		forPrincipal("User:*", topicGrant("secret", opRead))...))
	got := fetchCodes(t, n, alice, "t", "other", "secret")
	for _, topic := range []string{"t", "other", "secret"} {
		if got[topic] == kerr.TopicAuthorizationFailed.Code {
			t.Errorf("fetch %s: denied", topic)
		}
	}
	got = fetchCodes(t, n, bob, "t", "other", "secret")
	if got["t"] != kerr.TopicAuthorizationFailed.Code || got["other"] != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("bob: %v, want t and other denied", got)
	}
	if got["secret"] == kerr.TopicAuthorizationFailed.Code {
		t.Error("bob denied a topic User:* may read")
	}
}

// A request for all topics lists only describable ones; a named topic
// without DESCRIBE looks the same whether it exists or not, and is never
// auto-created; by id, the id is answered without the name.
func TestAuthzMetadataHidesTopics(t *testing.T) {
	n := newAuthzNode(t, forPrincipal(alice, topicGrant("t", opDescribe), clusterGrant(opCreate)))
	all := n.call(t, alice, false, metadataReq(false)).(*kmsg.MetadataResponse)
	if names := metadataNames(all); !slices.Equal(names, []string{"t"}) {
		t.Errorf("all topics: %v, want [t]", names)
	}
	named := n.call(t, alice, false, metadataReq(true, "secret", "ghost")).(*kmsg.MetadataResponse)
	for _, mt := range named.Topics {
		if mt.ErrorCode != kerr.TopicAuthorizationFailed.Code || mt.TopicID != [16]byte{} || len(mt.Partitions) != 0 || mt.IsInternal {
			t.Errorf("%s: %+v, want only TOPIC_AUTHORIZATION_FAILED", *mt.Topic, mt)
		}
	}
	if touched := n.controller.Touched(); len(touched) != 0 {
		t.Errorf("auto-created %v", touched)
	}
	byID := versioned(kmsg.NewPtrMetadataRequest(), 12)
	byID.Topics = []kmsg.MetadataRequestTopic{{TopicID: testTopicIDs["secret"]}}
	resp := n.call(t, alice, false, byID).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].Topic != nil || resp.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code ||
		resp.Topics[0].TopicID != testTopicIDs["secret"] || len(resp.Topics[0].Partitions) != 0 {
		t.Errorf("by id: %+v", resp.Topics)
	}
}

func metadataNames(r *kmsg.MetadataResponse) []string {
	var out []string
	for _, t := range r.Topics {
		if t.Topic != nil {
			out = append(out, *t.Topic)
		}
	}
	slices.Sort(out)
	return out
}

func TestAuthzListGroupsFilters(t *testing.T) {
	n := newAuthzNode(t, append(forPrincipal(alice, groupGrant("g", opDescribe)),
		forPrincipal(admin+"2", clusterGrant(opDescribe))...))
	for _, tc := range []struct {
		principal string
		want      []string
	}{
		{alice, []string{"g"}},
		{bob, nil},
		{admin + "2", []string{"g", "secret-group"}},
		{admin, []string{"g", "secret-group"}},
	} {
		resp := n.call(t, tc.principal, false, versioned(kmsg.NewPtrListGroupsRequest(), 4)).(*kmsg.ListGroupsResponse)
		var got []string
		for _, g := range resp.Groups {
			got = append(got, g.Group)
		}
		if !slices.Equal(got, tc.want) || resp.ErrorCode != 0 {
			t.Errorf("%s: groups %v (error %d), want %v", tc.principal, got, resp.ErrorCode, tc.want)
		}
	}
}

// Fetching every committed offset leaves out topics without DESCRIBE;
// asking for them answers TOPIC_AUTHORIZATION_FAILED without the offset.
func TestAuthzOffsetFetchFilters(t *testing.T) {
	n := newAuthzNode(t, forPrincipal(alice, groupGrant("g", opDescribe), topicGrant("t", opDescribe)))
	for _, v := range []int16{7, 8} {
		all := offsetFetchReq(v)
		all.Topics = nil
		for i := range all.Groups {
			all.Groups[i].Topics = nil
		}
		if got := offsetTopics(n.call(t, alice, false, all)); !slices.Equal(got, []string{"t:0"}) {
			t.Errorf("v%d all: %v, want [t:0]", v, got)
		}
		asked := offsetTopics(n.call(t, alice, false, offsetFetchReq(v, "t", "secret")))
		if !slices.Equal(asked, []string{"secret:29", "t:0"}) {
			t.Errorf("v%d asked: %v, want secret refused (29), t answered", v, asked)
		}
	}
}

// offsetTopics renders "topic:code" per partition (offsets of refused
// partitions must be -1).
func offsetTopics(r kmsg.Response) []string {
	resp := r.(*kmsg.OffsetFetchResponse)
	var out []string
	add := func(topic string, code int16, offset int64) {
		if code != 0 && offset != -1 {
			topic += "(offset leaked)"
		}
		out = append(out, topic+":"+strconv.Itoa(int(code)))
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			add(t.Topic, p.ErrorCode, p.Offset)
		}
	}
	for _, g := range resp.Groups {
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				add(t.Topic, p.ErrorCode, p.Offset)
			}
		}
	}
	slices.Sort(out)
	return out
}

// OffsetCommit and OffsetDelete serve the authorized topics and refuse the
// others, which never reach the coordinator.
func TestAuthzPartialTopics(t *testing.T) {
	n := newAuthzNode(t, forPrincipal(alice, groupGrant("g", opRead), groupGrant("g", opDelete), topicGrant("t", opRead)))
	commit := commitReq().(*kmsg.OffsetCommitRequest)
	commit.Topics = append(commit.Topics, kmsg.OffsetCommitRequestTopic{Topic: "secret",
		Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}})
	got := map[string]int16{}
	for _, rt := range n.call(t, alice, false, commit).(*kmsg.OffsetCommitResponse).Topics {
		got[rt.Topic] = rt.Partitions[0].ErrorCode
	}
	if got["t"] != 0 || got["secret"] != kerr.TopicAuthorizationFailed.Code || len(got) != 2 {
		t.Errorf("commit: %v", got)
	}
	if sent := n.groups.Last().(*kmsg.OffsetCommitRequest); len(sent.Topics) != 1 || sent.Topics[0].Topic != "t" {
		t.Errorf("the coordinator got %+v", sent.Topics)
	}
	del := offsetDeleteReq().(*kmsg.OffsetDeleteRequest)
	del.Topics = append(del.Topics, kmsg.OffsetDeleteRequestTopic{Topic: "secret",
		Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}})
	resp := n.call(t, alice, false, del).(*kmsg.OffsetDeleteResponse)
	refused := slices.IndexFunc(resp.Topics, func(rt kmsg.OffsetDeleteResponseTopic) bool {
		return rt.Topic == "secret" && rt.Partitions[0].ErrorCode == kerr.TopicAuthorizationFailed.Code
	})
	if resp.ErrorCode != 0 || refused < 0 {
		t.Errorf("offset delete: %+v", resp)
	}
	if sent := n.groups.Last().(*kmsg.OffsetDeleteRequest); len(sent.Topics) != 1 || sent.Topics[0].Topic != "t" {
		t.Errorf("the coordinator got %+v", sent.Topics)
	}
}

// DeleteTopics does not tell an undescribable topic from a missing one,
// and names a topic asked by id only to those who may describe it.
func TestAuthzDeleteTopicsHidesExistence(t *testing.T) {
	n := newAuthzNode(t, forPrincipal(alice, topicGrant("ghost", opDescribe), topicGrant("other", opDescribe)))
	resp := n.call(t, alice, false, deleteTopicsReq("secret", "nowhere", "ghost", "other")).(*kmsg.DeleteTopicsResponse)
	want := map[string]int16{
		"secret":  kerr.TopicAuthorizationFailed.Code, // exists, not describable
		"nowhere": kerr.TopicAuthorizationFailed.Code, // missing, not describable
		"ghost":   kerr.UnknownTopicOrPartition.Code,  // missing, describable
		"other":   kerr.TopicAuthorizationFailed.Code, // exists, describable, not deletable
	}
	for _, rt := range resp.Topics {
		if rt.Topic == nil || rt.ErrorCode != want[*rt.Topic] || rt.TopicID != [16]byte{} {
			t.Errorf("%+v, want code %d and no id", rt, want[deref(rt.Topic)])
		}
	}
	byID := versioned(kmsg.NewPtrDeleteTopicsRequest(), 6)
	byID.Topics = []kmsg.DeleteTopicsRequestTopic{{TopicID: testTopicIDs["secret"]}, {TopicID: testTopicIDs["other"]}}
	resp = n.call(t, alice, false, byID).(*kmsg.DeleteTopicsResponse)
	if len(resp.Topics) != 2 || resp.Topics[0].Topic != nil || deref(resp.Topics[1].Topic) != "other" {
		t.Errorf("by id: %+v", resp.Topics)
	}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != kerr.TopicAuthorizationFailed.Code {
			t.Errorf("by id: %+v", rt)
		}
	}
	if touched := n.controller.Touched(); len(touched) != 0 {
		t.Errorf("sent to the controller: %v", touched)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// A transactional batch without a transactional id is refused even to a
// super user, as Kafka does.
func TestAuthzTransactionalBatchNeedsID(t *testing.T) {
	n := newAuthzNode(t, nil)
	if got := producePartCode(n.call(t, admin, false, produceReq(nil, transactionalBatch()))); got != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("code %d, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", got)
	}
}

// InitProducerId without a transactional id needs IDEMPOTENT_WRITE on the
// cluster or WRITE on some topic, as Kafka's authorizeByResourceType
// decides it.
func TestAuthzInitProducerIDAnyTopic(t *testing.T) {
	for _, tc := range []struct {
		name string
		acls []metadata.ACL
		ok   bool
	}{
		{"literal", acls(topicGrant("x", opWrite)), true},
		{"prefixed", acls(prefixed(topicGrant("x", opWrite))), true},
		{"all", acls(topicGrant("x", opAll())), true},
		{"wildcard", acls(topicGrant("*", opWrite)), true},
		{"read only", acls(topicGrant("x", opRead)), false},
		{"literal denied", acls(topicGrant("x", opWrite), deny(topicGrant("x", opWrite))), false},
		{"denied by prefix", acls(topicGrant("xy", opWrite), deny(prefixed(topicGrant("x", opWrite)))), false},
		{"deny elsewhere", acls(topicGrant("xy", opWrite), deny(prefixed(topicGrant("z", opWrite)))), true},
		{"wildcard deny", acls(topicGrant("x", opWrite), deny(topicGrant("*", opWrite))), false},
		{"one of two denied", acls(topicGrant("x", opWrite), topicGrant("y", opWrite), deny(topicGrant("x", opWrite))), true},
	} {
		n := newAuthzNode(t, forPrincipal(alice, tc.acls...))
		got := initPIDCode(n.call(t, alice, false, initPIDReq(nil)))
		if ok := got != kerr.ClusterAuthorizationFailed.Code; ok != tc.ok {
			t.Errorf("%s: code %d, want allowed %v", tc.name, got, tc.ok)
		}
	}
}

// CreateTopics hides the configs of a topic created without
// DESCRIBE_CONFIGS on it.
func TestAuthzCreateTopicsHidesConfigs(t *testing.T) {
	n := newAuthzNode(t, forPrincipal(alice, clusterGrant(opCreate)))
	rt := n.call(t, alice, false, createTopicsReq()).(*kmsg.CreateTopicsResponse).Topics[0]
	if rt.ErrorCode != 0 || rt.ConfigErrorCode != kerr.TopicAuthorizationFailed.Code || len(rt.Configs) != 0 || rt.NumPartitions != -1 {
		t.Errorf("%+v", rt)
	}
	rt = n.call(t, admin, false, createTopicsReq()).(*kmsg.CreateTopicsResponse).Topics[0]
	if rt.ErrorCode != 0 || rt.ConfigErrorCode != 0 || len(rt.Configs) == 0 || rt.NumPartitions != 1 {
		t.Errorf("super user: %+v", rt)
	}
}

// bits sets bit op for each operation.
func bits(ops ...int8) int32 {
	var b int32
	for _, o := range ops {
		b |= 1 << o
	}
	return b
}

func TestAuthzAuthorizedOperations(t *testing.T) {
	n := newAuthzNode(t, forPrincipal(alice, topicGrant("t", opRead), clusterGrant(opDescribe), clusterGrant(opCreate),
		groupGrant("g", opDelete)))
	allCluster := bits(opCreate, opClusterAc, opDescCfg, opAlterCfg, opIdemWrite, opAlter, opDescribe)
	md := metadataReq(false, "t")
	md.IncludeClusterAuthorizedOperations, md.IncludeTopicAuthorizedOperations = true, true
	resp := n.call(t, alice, false, md).(*kmsg.MetadataResponse)
	if resp.AuthorizedOperations != bits(opCreate, opDescribe) || resp.Topics[0].AuthorizedOperations != bits(opRead, opDescribe) {
		t.Errorf("metadata: cluster %b, topic %b", resp.AuthorizedOperations, resp.Topics[0].AuthorizedOperations)
	}
	if resp := n.call(t, bob, false, md).(*kmsg.MetadataResponse); resp.AuthorizedOperations != 0 {
		t.Errorf("metadata without cluster DESCRIBE: %b, want 0", resp.AuthorizedOperations)
	}
	if resp := n.call(t, admin, false, md).(*kmsg.MetadataResponse); resp.AuthorizedOperations != allCluster {
		t.Errorf("metadata, super user: %b, want %b", resp.AuthorizedOperations, allCluster)
	}
	if resp := n.call(t, alice, false, metadataReq(false, "t")).(*kmsg.MetadataResponse); resp.AuthorizedOperations != math.MinInt32 ||
		resp.Topics[0].AuthorizedOperations != math.MinInt32 {
		t.Errorf("metadata, not asked: %d %d", resp.AuthorizedOperations, resp.Topics[0].AuthorizedOperations)
	}
	dc := versioned(kmsg.NewPtrDescribeClusterRequest(), 1)
	dc.IncludeClusterAuthorizedOperations = true
	if got := n.call(t, alice, false, dc).(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations; got != bits(opCreate, opDescribe) {
		t.Errorf("describe cluster: %b", got)
	}
	if got := n.call(t, bob, false, dc).(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations; got != 0 {
		t.Errorf("describe cluster without DESCRIBE: %b", got)
	}
	dg := n.call(t, alice, false, describeGroupsReq(true)).(*kmsg.DescribeGroupsResponse).Groups[0]
	if dg.ErrorCode != 0 || dg.AuthorizedOperations != bits(opDelete, opDescribe) {
		t.Errorf("describe groups: %+v", dg)
	}
}

// A forwarded request is authorized as the principal it carries; one a
// node makes for itself (no principal: creating an internal topic) as the
// sending node.
func TestAuthzEnvelopePrincipal(t *testing.T) {
	const broker = "User:broker"
	n := newAuthzNode(t, forPrincipal(broker, clusterGrant(opClusterAc), clusterGrant(opCreate)))
	for _, tc := range []struct {
		principal string
		want      int16
	}{
		{"", 0},
		{bob, kerr.TopicAuthorizationFailed.Code},
	} {
		env := versioned(kmsg.NewPtrEnvelopeRequest(), 0)
		env.RequestData = kmsg.NewRequestFormatter(kmsg.FormatterClientID("c")).AppendRequest(nil, createTopicsReq(), 1)[4:]
		env.RequestPrincipal = []byte(tc.principal)
		resp := n.call(t, broker, true, env).(*kmsg.EnvelopeResponse)
		inner := kmsg.NewPtrCreateTopicsResponse()
		inner.SetVersion(5)
		if err := inner.ReadFrom(resp.ResponseData); resp.ErrorCode != 0 || err != nil {
			t.Fatalf("principal %q: envelope error %d, %v", tc.principal, resp.ErrorCode, err)
		}
		if got := inner.Topics[0].ErrorCode; got != tc.want {
			t.Errorf("principal %q: code %d, want %d", tc.principal, got, tc.want)
		}
	}
}
