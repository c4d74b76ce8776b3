package handlers

// Requests of the ACL matrix (authz_matrix_test.go), each about topic "t"
// partition 0, group "g" or the transactional id "tx", and the codes of
// their answers ("first" entries; -1 when the response has none).

import (
	"encoding/binary"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const none int16 = -1

// transactionalBatch is a v2 batch with the transactional attribute.
func transactionalBatch() []byte {
	b, err := record.BuildBatch(record.CompressionNone, 0, []record.Record{{Value: []byte("v")}})
	if err != nil {
		panic(err)
	}
	const offAttributes = 21
	binary.BigEndian.PutUint16(b[offAttributes:], binary.BigEndian.Uint16(b[offAttributes:])|record.TransactionalBit)
	return b
}

func produceReq(txn *string, records []byte) kmsg.Request {
	r := versioned(kmsg.NewPtrProduceRequest(), 9)
	r.Acks, r.TimeoutMillis, r.TransactionID = 1, 1000, txn
	if records == nil {
		records = []byte{}
	}
	r.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: records}}}}
	return r
}

func producePartCode(r kmsg.Response) int16 {
	for _, t := range r.(*kmsg.ProduceResponse).Topics {
		for _, p := range t.Partitions {
			return p.ErrorCode
		}
	}
	return none
}

func fetchReq(replica int32) kmsg.Request {
	r := versioned(kmsg.NewPtrFetchRequest(), 12)
	r.ReplicaID, r.MaxBytes = replica, 1<<20
	p := kmsg.NewFetchRequestTopicPartition()
	p.PartitionMaxBytes = 1 << 20
	r.Topics = []kmsg.FetchRequestTopic{{Topic: "t", Partitions: []kmsg.FetchRequestTopicPartition{p}}}
	return r
}

func metadataFetchReq() kmsg.Request {
	r := versioned(kmsg.NewPtrFetchRequest(), 12)
	r.ReplicaID, r.MaxBytes = 2, 1<<20
	p := kmsg.NewFetchRequestTopicPartition()
	p.FetchOffset = 1
	r.Topics = []kmsg.FetchRequestTopic{{Topic: MetadataTopic, Partitions: []kmsg.FetchRequestTopicPartition{p}}}
	return r
}

func fetchPartCode(r kmsg.Response) int16 {
	for _, t := range fetchOf(r).Topics {
		for _, p := range t.Partitions {
			return p.ErrorCode
		}
	}
	return none
}

func listOffsetsReq() kmsg.Request {
	r := versioned(kmsg.NewPtrListOffsetsRequest(), 5)
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Timestamp = -1
	r.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "t", Partitions: []kmsg.ListOffsetsRequestTopicPartition{p}}}
	return r
}

func listOffsetsCode(r kmsg.Response) int16 {
	for _, t := range r.(*kmsg.ListOffsetsResponse).Topics {
		for _, p := range t.Partitions {
			return p.ErrorCode
		}
	}
	return none
}

func epochReq(replica int32) kmsg.Request {
	r := versioned(kmsg.NewPtrOffsetForLeaderEpochRequest(), 4)
	r.ReplicaID = replica
	p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	r.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{p}}}
	return r
}

func describeProducersReq() kmsg.Request {
	r := kmsg.NewPtrDescribeProducersRequest()
	r.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	return r
}

func describeProducersCode(r kmsg.Response) int16 {
	for _, t := range r.(*kmsg.DescribeProducersResponse).Topics {
		for _, p := range t.Partitions {
			return p.ErrorCode
		}
	}
	return none
}

func epochCode(r kmsg.Response) int16 {
	for _, t := range r.(*kmsg.OffsetForLeaderEpochResponse).Topics {
		for _, p := range t.Partitions {
			return p.ErrorCode
		}
	}
	return none
}

// metadataReq asks about the named topics (nil: all) at v9.
func metadataReq(autoCreate bool, names ...string) *kmsg.MetadataRequest {
	r := versioned(kmsg.NewPtrMetadataRequest(), 9)
	r.AllowAutoTopicCreation = autoCreate
	if names == nil {
		r.Topics = nil
		return r
	}
	r.Topics = []kmsg.MetadataRequestTopic{}
	for _, n := range names {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = &n
		r.Topics = append(r.Topics, t)
	}
	return r
}

func metadataCode(r kmsg.Response) int16 {
	for _, t := range r.(*kmsg.MetadataResponse).Topics {
		return t.ErrorCode
	}
	return none
}

func initPIDReq(txn *string) kmsg.Request {
	r := versioned(kmsg.NewPtrInitProducerIDRequest(), 4)
	r.TransactionalID = txn
	return r
}

func initPIDCode(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }

func findCoordinatorReq(v int16, typ int8, key string) kmsg.Request {
	r := versioned(kmsg.NewPtrFindCoordinatorRequest(), v)
	r.CoordinatorType = typ
	if v < 4 {
		r.CoordinatorKey = key
	} else {
		r.CoordinatorKeys = []string{key}
	}
	return r
}

func findCoordinatorCode(r kmsg.Response) int16 {
	resp := r.(*kmsg.FindCoordinatorResponse)
	if resp.Version < 4 {
		return resp.ErrorCode
	}
	for _, c := range resp.Coordinators {
		return c.ErrorCode
	}
	return none
}

func joinReq() kmsg.Request {
	r := versioned(kmsg.NewPtrJoinGroupRequest(), 9)
	r.Group, r.ProtocolType = "g", "consumer"
	return r
}

func joinCode(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode }

func syncReq() kmsg.Request {
	r := versioned(kmsg.NewPtrSyncGroupRequest(), 5)
	r.Group = "g"
	return r
}

func syncCode(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode }

func heartbeatReq() kmsg.Request {
	r := versioned(kmsg.NewPtrHeartbeatRequest(), 4)
	r.Group = "g"
	return r
}

func heartbeatCode(r kmsg.Response) int16 { return r.(*kmsg.HeartbeatResponse).ErrorCode }

func leaveReq() kmsg.Request {
	r := versioned(kmsg.NewPtrLeaveGroupRequest(), 5)
	r.Group = "g"
	return r
}

func leaveCode(r kmsg.Response) int16 { return r.(*kmsg.LeaveGroupResponse).ErrorCode }

func commitReq() kmsg.Request {
	r := versioned(kmsg.NewPtrOffsetCommitRequest(), 8)
	r.Group = "g"
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Offset = 5
	r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
	return r
}

func commitCode(r kmsg.Response) int16 {
	for _, t := range r.(*kmsg.OffsetCommitResponse).Topics {
		for _, p := range t.Partitions {
			return p.ErrorCode
		}
	}
	return none
}

// offsetFetchReq asks group g for partition 0 of the topics (default t).
func offsetFetchReq(v int16, topics ...string) *kmsg.OffsetFetchRequest {
	if topics == nil {
		topics = []string{"t"}
	}
	r := versioned(kmsg.NewPtrOffsetFetchRequest(), v)
	if v < 8 {
		r.Group = "g"
		for _, t := range topics {
			r.Topics = append(r.Topics, kmsg.OffsetFetchRequestTopic{Topic: t, Partitions: []int32{0}})
		}
		return r
	}
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = "g"
	for _, t := range topics {
		g.Topics = append(g.Topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t, Partitions: []int32{0}})
	}
	r.Groups = []kmsg.OffsetFetchRequestGroup{g}
	return r
}

func offsetFetchGroupCode(r kmsg.Response) int16 {
	resp := r.(*kmsg.OffsetFetchResponse)
	if resp.Version < 8 {
		return resp.ErrorCode
	}
	for _, g := range resp.Groups {
		return g.ErrorCode
	}
	return none
}

func offsetFetchPartCode(r kmsg.Response) int16 {
	resp := r.(*kmsg.OffsetFetchResponse)
	if resp.Version < 8 {
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				return p.ErrorCode
			}
		}
		return none
	}
	for _, g := range resp.Groups {
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				return p.ErrorCode
			}
		}
	}
	return none
}

func describeGroupsReq(ops bool) *kmsg.DescribeGroupsRequest {
	r := versioned(kmsg.NewPtrDescribeGroupsRequest(), 5)
	r.Groups, r.IncludeAuthorizedOperations = []string{"g"}, ops
	return r
}

func describeGroupsCode(r kmsg.Response) int16 {
	for _, g := range r.(*kmsg.DescribeGroupsResponse).Groups {
		return g.ErrorCode
	}
	return none
}

func deleteGroupsReq() kmsg.Request {
	r := versioned(kmsg.NewPtrDeleteGroupsRequest(), 2)
	r.Groups = []string{"g"}
	return r
}

func deleteGroupsCode(r kmsg.Response) int16 {
	for _, g := range r.(*kmsg.DeleteGroupsResponse).Groups {
		return g.ErrorCode
	}
	return none
}

func offsetDeleteReq() kmsg.Request {
	r := versioned(kmsg.NewPtrOffsetDeleteRequest(), 0)
	r.Group = "g"
	r.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	return r
}

func offsetDeleteGroupCode(r kmsg.Response) int16 { return r.(*kmsg.OffsetDeleteResponse).ErrorCode }

func offsetDeletePartCode(r kmsg.Response) int16 {
	for _, t := range r.(*kmsg.OffsetDeleteResponse).Topics {
		for _, p := range t.Partitions {
			return p.ErrorCode
		}
	}
	return none
}

func createTopicsReq() kmsg.Request {
	r := versioned(kmsg.NewPtrCreateTopicsRequest(), 5)
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = "new", 1, 1
	r.Topics = []kmsg.CreateTopicsRequestTopic{t}
	return r
}

func createTopicsCode(r kmsg.Response) int16 {
	for _, t := range r.(*kmsg.CreateTopicsResponse).Topics {
		return t.ErrorCode
	}
	return none
}

// deleteTopicsReq deletes the topics by name at v6.
func deleteTopicsReq(names ...string) *kmsg.DeleteTopicsRequest {
	r := versioned(kmsg.NewPtrDeleteTopicsRequest(), 6)
	for _, n := range names {
		t := kmsg.NewDeleteTopicsRequestTopic()
		t.Topic = &n
		r.Topics = append(r.Topics, t)
	}
	return r
}

func deleteTopicsCode(r kmsg.Response) int16 {
	for _, t := range r.(*kmsg.DeleteTopicsResponse).Topics {
		return t.ErrorCode
	}
	return none
}

func createPartitionsReq() kmsg.Request {
	r := versioned(kmsg.NewPtrCreatePartitionsRequest(), 3)
	t := kmsg.NewCreatePartitionsRequestTopic()
	t.Topic, t.Count = "t", 2
	r.Topics = []kmsg.CreatePartitionsRequestTopic{t}
	return r
}

func createPartitionsCode(r kmsg.Response) int16 {
	for _, t := range r.(*kmsg.CreatePartitionsResponse).Topics {
		return t.ErrorCode
	}
	return none
}

func describeConfigsReq(typ kmsg.ConfigResourceType, name string) kmsg.Request {
	r := versioned(kmsg.NewPtrDescribeConfigsRequest(), 4)
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName = typ, name
	r.Resources = []kmsg.DescribeConfigsRequestResource{res}
	return r
}

func describeConfigsCode(r kmsg.Response) int16 {
	for _, res := range r.(*kmsg.DescribeConfigsResponse).Resources {
		return res.ErrorCode
	}
	return none
}

func alterConfigsReq(typ kmsg.ConfigResourceType, name string) kmsg.Request {
	r := versioned(kmsg.NewPtrAlterConfigsRequest(), 2)
	res := kmsg.NewAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = typ, name
	r.Resources = []kmsg.AlterConfigsRequestResource{res}
	return r
}

func alterConfigsCode(r kmsg.Response) int16 {
	for _, res := range r.(*kmsg.AlterConfigsResponse).Resources {
		return res.ErrorCode
	}
	return none
}

func incAlterConfigsReq(typ kmsg.ConfigResourceType, name string) kmsg.Request {
	r := versioned(kmsg.NewPtrIncrementalAlterConfigsRequest(), 1)
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = typ, name
	r.Resources = []kmsg.IncrementalAlterConfigsRequestResource{res}
	return r
}

func incAlterConfigsCode(r kmsg.Response) int16 {
	for _, res := range r.(*kmsg.IncrementalAlterConfigsResponse).Resources {
		return res.ErrorCode
	}
	return none
}

func electReq() kmsg.Request {
	r := versioned(kmsg.NewPtrElectLeadersRequest(), 2)
	r.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	return r
}

func electPartCode(r kmsg.Response) int16 {
	for _, t := range r.(*kmsg.ElectLeadersResponse).Topics {
		for _, p := range t.Partitions {
			return p.ErrorCode
		}
	}
	return none
}

func alterPartitionReq() kmsg.Request {
	r := versioned(kmsg.NewPtrAlterPartitionRequest(), 2)
	p := kmsg.NewAlterPartitionRequestTopicPartition()
	p.NewISR = []int32{1}
	r.Topics = []kmsg.AlterPartitionRequestTopic{{TopicID: testTopicIDs["t"], Partitions: []kmsg.AlterPartitionRequestTopicPartition{p}}}
	return r
}
