package handlers

// The ACL matrix: for every API, a principal with exactly the ACLs Kafka
// requires must not get the authorization error, one without them must get
// Kafka's exact code for the resource, and a super user without any ACL
// must pass.

import (
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// authzCase is one row of the matrix.
type authzCase struct {
	name   string
	ctrl   bool           // served on the controller listener
	need   []metadata.ACL // given to alice only: what the API checks
	others []metadata.ACL // given to alice and bob
	req    func() kmsg.Request
	code   func(kmsg.Response) int16 // the code of the resource under test
	want   *kerr.Error               // bob's code
	// deniedOnly: alice's answer cannot show authorization passed (the
	// API answers the same code for a reason of its own).
	deniedOnly bool
}

// Shorthands of the ACL matrix.
const (
	opRead      = metadata.ACLOpRead
	opWrite     = metadata.ACLOpWrite
	opCreate    = metadata.ACLOpCreate
	opDelete    = metadata.ACLOpDelete
	opAlter     = metadata.ACLOpAlter
	opDescribe  = metadata.ACLOpDescribe
	opClusterAc = metadata.ACLOpClusterAction
	opDescCfg   = metadata.ACLOpDescribeConfigs
	opAlterCfg  = metadata.ACLOpAlterConfigs
	opIdemWrite = metadata.ACLOpIdempotentWrite
)

func acls(a ...metadata.ACL) []metadata.ACL { return a }

func versioned[R kmsg.Request](r R, v int16) R { r.SetVersion(v); return r }

func TestAuthzMatrix(t *testing.T) {
	var cases []authzCase
	for _, part := range [][]authzCase{dataCases(), groupCases(), adminCases(), controllerCases()} {
		cases = append(cases, part...)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runAuthzCase(t, tc) })
	}
}

func runAuthzCase(t *testing.T, tc authzCase) {
	granted := append(append([]metadata.ACL{}, tc.need...), tc.others...)
	all := append(forPrincipal(alice, granted...), forPrincipal(bob, tc.others...)...)
	n := newAuthzNode(t, all)
	if got := tc.code(n.call(t, bob, tc.ctrl, tc.req())); got != tc.want.Code {
		t.Errorf("without the ACL: code %d (%s), want %s", got, errName(got), tc.want.Message)
	}
	if tc.deniedOnly {
		return
	}
	for _, p := range []string{alice, admin} {
		if got := tc.code(n.call(t, p, tc.ctrl, tc.req())); got == tc.want.Code {
			t.Errorf("%s, allowed: got the authorization error %s", p, tc.want.Message)
		}
	}
}

func errName(code int16) string {
	if e := kerr.ErrorForCode(code); e != nil {
		return e.Error()
	}
	return "NONE"
}

// dataCases: Produce, Fetch, ListOffsets, OffsetForLeaderEpoch, Metadata,
// DescribeTopicPartitions, InitProducerId.
func dataCases() []authzCase {
	return []authzCase{
		{name: "produce/write topic", need: acls(topicGrant("t", opWrite)),
			req: func() kmsg.Request { return produceReq(nil, nil) }, code: producePartCode, want: kerr.TopicAuthorizationFailed},
		{name: "produce/transactional id", need: acls(txnGrant("tx", opWrite)), others: acls(topicGrant("t", opWrite)),
			req:  func() kmsg.Request { tx := "tx"; return produceReq(&tx, transactionalBatch()) },
			code: producePartCode, want: kerr.TransactionalIDAuthorizationFailed},
		{name: "fetch/consumer read topic", need: acls(topicGrant("t", opRead)),
			req: func() kmsg.Request { return fetchReq(-1) }, code: fetchPartCode, want: kerr.TopicAuthorizationFailed},
		{name: "fetch/replica cluster action", need: acls(clusterGrant(opClusterAc)), others: acls(topicGrant("t", opRead)),
			req: func() kmsg.Request { return fetchReq(2) }, code: fetchPartCode, want: kerr.TopicAuthorizationFailed},
		{name: "fetch/metadata log cluster action", ctrl: true, need: acls(clusterGrant(opClusterAc)),
			req: metadataFetchReq, code: func(r kmsg.Response) int16 { return fetchOf(r).ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
		{name: "list offsets/describe topic", need: acls(topicGrant("t", opDescribe)),
			req: listOffsetsReq, code: listOffsetsCode, want: kerr.TopicAuthorizationFailed},
		{name: "describe producers/read topic", need: acls(topicGrant("t", opRead)),
			req: describeProducersReq, code: describeProducersCode, want: kerr.TopicAuthorizationFailed},
		{name: "offset for leader epoch/describe topic", need: acls(topicGrant("t", opDescribe)),
			req: func() kmsg.Request { return epochReq(-1) }, code: epochCode, want: kerr.TopicAuthorizationFailed},
		{name: "offset for leader epoch/replica cluster action", need: acls(clusterGrant(opClusterAc)),
			req: func() kmsg.Request { return epochReq(2) }, code: epochCode, want: kerr.TopicAuthorizationFailed},
		{name: "metadata/describe topic", need: acls(topicGrant("t", opDescribe)),
			req: func() kmsg.Request { return metadataReq(false, "t") }, code: metadataCode, want: kerr.TopicAuthorizationFailed},
		{name: "metadata/auto-create with create on topic", need: acls(topicGrant("new", opCreate)), others: acls(topicGrant("new", opDescribe)),
			req: func() kmsg.Request { return metadataReq(true, "new") }, code: metadataCode, want: kerr.TopicAuthorizationFailed},
		{name: "metadata/auto-create with create on cluster", need: acls(clusterGrant(opCreate)), others: acls(topicGrant("new", opDescribe)),
			req: func() kmsg.Request { return metadataReq(true, "new") }, code: metadataCode, want: kerr.TopicAuthorizationFailed},
		{name: "describe topic partitions/describe topic", need: acls(topicGrant("t", opDescribe)),
			req: func() kmsg.Request { return describeReq(10, nil, "t") }, code: describeTopicCode, want: kerr.TopicAuthorizationFailed},
		{name: "init producer id/idempotent write on cluster", need: acls(clusterGrant(opIdemWrite)),
			req: func() kmsg.Request { return initPIDReq(nil) }, code: initPIDCode, want: kerr.ClusterAuthorizationFailed},
		{name: "init producer id/write on some topic", need: acls(topicGrant("other", opWrite)),
			req: func() kmsg.Request { return initPIDReq(nil) }, code: initPIDCode, want: kerr.ClusterAuthorizationFailed},
		{name: "init producer id/write on transactional id", need: acls(txnGrant("tx", opWrite)), others: acls(clusterGrant(opIdemWrite)),
			req: func() kmsg.Request { tx := "tx"; return initPIDReq(&tx) }, code: initPIDCode, want: kerr.TransactionalIDAuthorizationFailed,
			deniedOnly: true}, // transactions are not implemented: the same code either way
	}
}

// groupCases: FindCoordinator and the group APIs.
func groupCases() []authzCase {
	read, describe := acls(groupGrant("g", opRead)), acls(groupGrant("g", opDescribe))
	return []authzCase{
		{name: "find coordinator v3/describe group", need: describe,
			req: func() kmsg.Request { return findCoordinatorReq(3, 0, "g") }, code: findCoordinatorCode, want: kerr.GroupAuthorizationFailed},
		{name: "find coordinator v4/describe group", need: describe,
			req: func() kmsg.Request { return findCoordinatorReq(4, 0, "g") }, code: findCoordinatorCode, want: kerr.GroupAuthorizationFailed},
		{name: "find coordinator/describe transactional id", need: acls(txnGrant("tx", opDescribe)),
			req: func() kmsg.Request { return findCoordinatorReq(4, 1, "tx") }, code: findCoordinatorCode,
			want: kerr.TransactionalIDAuthorizationFailed},
		{name: "join group/read group", need: read, req: joinReq, code: joinCode, want: kerr.GroupAuthorizationFailed},
		{name: "sync group/read group", need: read, req: syncReq, code: syncCode, want: kerr.GroupAuthorizationFailed},
		{name: "heartbeat/read group", need: read, req: heartbeatReq, code: heartbeatCode, want: kerr.GroupAuthorizationFailed},
		{name: "leave group/read group", need: read, req: leaveReq, code: leaveCode, want: kerr.GroupAuthorizationFailed},
		{name: "offset commit/read group", need: read, others: acls(topicGrant("t", opRead)),
			req: commitReq, code: commitCode, want: kerr.GroupAuthorizationFailed},
		{name: "offset commit/read topic", need: acls(topicGrant("t", opRead)), others: read,
			req: commitReq, code: commitCode, want: kerr.TopicAuthorizationFailed},
		{name: "offset fetch v7/describe group", need: describe, others: acls(topicGrant("t", opDescribe)),
			req: func() kmsg.Request { return offsetFetchReq(7) }, code: offsetFetchGroupCode, want: kerr.GroupAuthorizationFailed},
		{name: "offset fetch v7/describe topic", need: acls(topicGrant("t", opDescribe)), others: describe,
			req: func() kmsg.Request { return offsetFetchReq(7) }, code: offsetFetchPartCode, want: kerr.TopicAuthorizationFailed},
		{name: "offset fetch v8/describe group", need: describe, others: acls(topicGrant("t", opDescribe)),
			req: func() kmsg.Request { return offsetFetchReq(8) }, code: offsetFetchGroupCode, want: kerr.GroupAuthorizationFailed},
		{name: "offset fetch v8/describe topic", need: acls(topicGrant("t", opDescribe)), others: describe,
			req: func() kmsg.Request { return offsetFetchReq(8) }, code: offsetFetchPartCode, want: kerr.TopicAuthorizationFailed},
		{name: "describe groups/describe group", need: describe,
			req: func() kmsg.Request { return describeGroupsReq(false) }, code: describeGroupsCode, want: kerr.GroupAuthorizationFailed},
		{name: "delete groups/delete group", need: acls(groupGrant("g", opDelete)),
			req: deleteGroupsReq, code: deleteGroupsCode, want: kerr.GroupAuthorizationFailed},
		{name: "offset delete/delete group", need: acls(groupGrant("g", opDelete)), others: acls(topicGrant("t", opRead)),
			req: offsetDeleteReq, code: offsetDeleteGroupCode, want: kerr.GroupAuthorizationFailed},
		{name: "offset delete/read topic", need: acls(topicGrant("t", opRead)), others: acls(groupGrant("g", opDelete)),
			req: offsetDeleteReq, code: offsetDeletePartCode, want: kerr.TopicAuthorizationFailed},
	}
}

// adminCases: topic and config administration.
func adminCases() []authzCase {
	return []authzCase{
		{name: "create topics/create on cluster", need: acls(clusterGrant(opCreate)),
			req: createTopicsReq, code: createTopicsCode, want: kerr.TopicAuthorizationFailed},
		{name: "create topics/create on topic", need: acls(topicGrant("new", opCreate)),
			req: createTopicsReq, code: createTopicsCode, want: kerr.TopicAuthorizationFailed},
		{name: "create topics v5/describe configs", need: acls(topicGrant("new", opDescCfg)), others: acls(topicGrant("new", opCreate)),
			req:  createTopicsReq,
			code: func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ConfigErrorCode },
			want: kerr.TopicAuthorizationFailed},
		{name: "delete topics/delete topic", need: acls(topicGrant("t", opDelete)), others: acls(topicGrant("t", opDescribe)),
			req: func() kmsg.Request { return deleteTopicsReq("t") }, code: deleteTopicsCode, want: kerr.TopicAuthorizationFailed},
		{name: "delete topics/delete on cluster", need: acls(clusterGrant(opDelete)),
			req: func() kmsg.Request { return deleteTopicsReq("t") }, code: deleteTopicsCode, want: kerr.TopicAuthorizationFailed},
		{name: "create partitions/alter topic", need: acls(topicGrant("t", opAlter)),
			req: createPartitionsReq, code: createPartitionsCode, want: kerr.TopicAuthorizationFailed},
		{name: "describe configs/topic", need: acls(topicGrant("t", opDescCfg)),
			req: func() kmsg.Request { return describeConfigsReq(kmsg.ConfigResourceTypeTopic, "t") }, code: describeConfigsCode,
			want: kerr.TopicAuthorizationFailed},
		{name: "describe configs/broker", need: acls(clusterGrant(opDescCfg)),
			req: func() kmsg.Request { return describeConfigsReq(kmsg.ConfigResourceTypeBroker, "1") }, code: describeConfigsCode,
			want: kerr.ClusterAuthorizationFailed},
		{name: "alter configs/topic", need: acls(topicGrant("t", opAlterCfg)),
			req: func() kmsg.Request { return alterConfigsReq(kmsg.ConfigResourceTypeTopic, "t") }, code: alterConfigsCode,
			want: kerr.TopicAuthorizationFailed},
		{name: "alter configs/broker", need: acls(clusterGrant(opAlterCfg)),
			req: func() kmsg.Request { return alterConfigsReq(kmsg.ConfigResourceTypeBroker, "1") }, code: alterConfigsCode,
			want: kerr.ClusterAuthorizationFailed},
		{name: "incremental alter configs/topic", need: acls(topicGrant("t", opAlterCfg)),
			req: func() kmsg.Request { return incAlterConfigsReq(kmsg.ConfigResourceTypeTopic, "t") }, code: incAlterConfigsCode,
			want: kerr.TopicAuthorizationFailed},
		{name: "incremental alter configs/broker", need: acls(clusterGrant(opAlterCfg)),
			req: func() kmsg.Request { return incAlterConfigsReq(kmsg.ConfigResourceTypeBroker, "1") }, code: incAlterConfigsCode,
			want: kerr.ClusterAuthorizationFailed},
		{name: "elect leaders/alter cluster", need: acls(clusterGrant(opAlter)),
			req: electReq, code: electPartCode, want: kerr.ClusterAuthorizationFailed},
		{name: "elect leaders/top level", need: acls(clusterGrant(opAlter)),
			req: electReq, code: func(r kmsg.Response) int16 { return r.(*kmsg.ElectLeadersResponse).ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
		{name: "alter partition reassignments/alter cluster", need: acls(clusterGrant(opAlter)),
			req: func() kmsg.Request {
				r := versioned(kmsg.NewPtrAlterPartitionAssignmentsRequest(), 1)
				r.Topics = []kmsg.AlterPartitionAssignmentsRequestTopic{{Topic: "t", Partitions: []kmsg.AlterPartitionAssignmentsRequestTopicPartition{{Partition: 0, Replicas: []int32{1}}}}}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterPartitionAssignmentsResponse).ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
		{name: "unregister broker/alter cluster", need: acls(clusterGrant(opAlter)),
			req: func() kmsg.Request {
				r := versioned(kmsg.NewPtrUnregisterBrokerRequest(), 0)
				r.BrokerID = 3
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.UnregisterBrokerResponse).ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
		{name: "list partition reassignments/describe cluster", need: acls(clusterGrant(opDescribe)),
			req:  func() kmsg.Request { return versioned(kmsg.NewPtrListPartitionReassignmentsRequest(), 0) },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ListPartitionReassignmentsResponse).ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
	}
}

// controllerCases: the controller listener's broker APIs.
func controllerCases() []authzCase {
	need := acls(clusterGrant(opClusterAc))
	return []authzCase{
		{name: "broker registration/cluster action", ctrl: true, need: need,
			req:  func() kmsg.Request { return versioned(kmsg.NewPtrBrokerRegistrationRequest(), 3) },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.BrokerRegistrationResponse).ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
		{name: "broker heartbeat/cluster action", ctrl: true, need: need,
			req:  func() kmsg.Request { return versioned(kmsg.NewPtrBrokerHeartbeatRequest(), 1) },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.BrokerHeartbeatResponse).ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
		{name: "alter partition/cluster action", ctrl: true, need: need, req: alterPartitionReq,
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterPartitionResponse).ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
		{name: "allocate producer ids/cluster action", ctrl: true, need: need,
			req:  func() kmsg.Request { return versioned(kmsg.NewPtrAllocateProducerIDsRequest(), 0) },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AllocateProducerIDsResponse).ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
	}
}
