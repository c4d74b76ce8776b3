package handlers

import (
	"context"
	"time"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one implemented API: its version range and its handler. Admin
// APIs change metadata: a node whose controller is not active forwards
// them to the active controller.
type api struct {
	min, max int16
	serve    func(h *Handlers, ctx context.Context, req *server.Request) server.Reply
	admin    bool
}

// registry is the single version table of the client listeners:
// Supported, dispatch and the ApiVersions response all read it, so an API
// is advertised exactly when it is implemented. controllerRegistry is the
// controller listener's.
var registry, controllerRegistry map[kmsg.Key]api

func init() {
	registry = map[kmsg.Key]api{
		kmsg.Produce:                      {3, 12, (*Handlers).produceWithQuota, false},
		kmsg.Fetch:                        {4, 16, (*Handlers).fetchWithQuota, false},
		kmsg.ListOffsets:                  {0, 7, (*Handlers).listOffsets, false},
		kmsg.Metadata:                     {0, 12, (*Handlers).metadata, false},
		kmsg.ApiVersions:                  {0, 4, (*Handlers).apiVersions, false},
		kmsg.CreateTopics:                 {0, 7, (*Handlers).createTopicsWithQuota, true},
		kmsg.DeleteTopics:                 {0, 6, (*Handlers).deleteTopicsWithQuota, true},
		kmsg.DescribeConfigs:              {0, 4, (*Handlers).describeConfigs, false},
		kmsg.AlterConfigs:                 {0, 2, (*Handlers).alterConfigs, true},
		kmsg.CreatePartitions:             {0, 3, (*Handlers).createPartitionsWithQuota, true},
		kmsg.IncrementalAlterConfigs:      {0, 1, (*Handlers).incrementalAlterConfigs, true},
		kmsg.DescribeCluster:              {0, 1, (*Handlers).describeCluster, false},
		kmsg.OffsetForLeaderEpoch:         {2, 4, (*Handlers).offsetForLeaderEpoch, false},
		kmsg.DescribeProducers:            {0, 0, (*Handlers).describeProducers, false},
		kmsg.DeleteRecords:                {0, 2, (*Handlers).deleteRecords, false},
		kmsg.DescribeLogDirs:              {0, 4, (*Handlers).describeLogDirs, false},
		kmsg.ElectLeaders:                 {0, 2, (*Handlers).electLeaders, true},
		kmsg.AlterPartitionAssignments:    {0, 1, (*Handlers).alterPartitionReassignments, true},
		kmsg.ListPartitionReassignments:   {0, 0, (*Handlers).listPartitionReassignments, true},
		kmsg.UnregisterBroker:             {0, 0, (*Handlers).unregisterBroker, true},
		kmsg.InitProducerID:               {0, 5, (*Handlers).initProducerID, false},
		kmsg.AddPartitionsToTxn:           {0, 4, (*Handlers).addPartitionsToTxn, false},
		kmsg.AddOffsetsToTxn:              {0, 4, (*Handlers).addOffsetsToTxn, false},
		kmsg.EndTxn:                       {0, 5, (*Handlers).endTxn, false},
		kmsg.WriteTxnMarkers:              {1, 1, (*Handlers).writeTxnMarkers, false},
		kmsg.TxnOffsetCommit:              {0, 5, (*Handlers).txnOffsetCommit, false},
		kmsg.DescribeTransactions:         {0, 0, (*Handlers).describeTransactions, false},
		kmsg.ListTransactions:             {0, 1, (*Handlers).listTransactions, false},
		kmsg.FindCoordinator:              {0, 4, (*Handlers).findCoordinator, false},
		kmsg.JoinGroup:                    {0, 9, (*Handlers).joinGroup, false},
		kmsg.SyncGroup:                    {0, 5, (*Handlers).syncGroup, false},
		kmsg.Heartbeat:                    {0, 4, (*Handlers).heartbeat, false},
		kmsg.LeaveGroup:                   {0, 5, (*Handlers).leaveGroup, false},
		kmsg.OffsetCommit:                 {0, 9, (*Handlers).offsetCommit, false},
		kmsg.OffsetFetch:                  {0, 9, (*Handlers).offsetFetch, false},
		kmsg.DescribeGroups:               {0, 5, (*Handlers).describeGroups, false},
		kmsg.ListGroups:                   {0, 5, (*Handlers).listGroups, false},
		kmsg.DeleteGroups:                 {0, 2, (*Handlers).deleteGroups, false},
		kmsg.OffsetDelete:                 {0, 0, (*Handlers).offsetDelete, false},
		kmsg.SASLHandshake:                {0, 1, (*Handlers).saslHandshake, false},
		kmsg.SASLAuthenticate:             {0, 2, (*Handlers).saslAuthenticate, false},
		kmsg.DescribeACLs:                 {0, 3, (*Handlers).describeACLs, false},
		kmsg.CreateACLs:                   {0, 3, (*Handlers).createACLs, true},
		kmsg.DeleteACLs:                   {0, 3, (*Handlers).deleteACLs, true},
		kmsg.DescribeUserSCRAMCredentials: {0, 0, (*Handlers).describeUserScram, false},
		kmsg.AlterUserSCRAMCredentials:    {0, 0, (*Handlers).alterUserScram, true},
		kmsg.DescribeTopicPartitions:      {0, 0, (*Handlers).describeTopicPartitions, false},
		kmsg.DescribeQuorum:               {0, 2, (*Handlers).describeQuorum, true},
		kmsg.AddRaftVoter:                 {0, 1, (*Handlers).addRaftVoter, true},
		kmsg.RemoveRaftVoter:              {0, 0, (*Handlers).removeRaftVoter, true},
		kmsg.DescribeClientQuotas:         {0, 1, (*Handlers).describeClientQuotas, false},
		kmsg.AlterClientQuotas:            {0, 1, (*Handlers).alterClientQuotas, true},
	}
	controllerRegistry = map[kmsg.Key]api{
		kmsg.ApiVersions:         {0, 4, (*Handlers).apiVersions, false},
		kmsg.Envelope:            {0, 0, (*Handlers).envelope, false},
		kmsg.BrokerRegistration:  {0, 3, (*Handlers).brokerRegistration, false},
		kmsg.BrokerHeartbeat:     {0, 1, (*Handlers).brokerHeartbeat, false},
		kmsg.AlterPartition:      {2, 3, (*Handlers).alterPartition, false},
		kmsg.AllocateProducerIDs: {0, 0, (*Handlers).allocateProducerIDs, false},
		kmsg.Fetch:               {12, 12, (*Handlers).fetchMetadata, false},
		kmsg.SASLHandshake:       {0, 1, (*Handlers).saslHandshake, false},
		kmsg.SASLAuthenticate:    {0, 2, (*Handlers).saslAuthenticate, false},
		kmsg.DescribeQuorum:      {0, 2, (*Handlers).describeQuorum, false},
		kmsg.AddRaftVoter:        {0, 1, (*Handlers).addRaftVoter, false},
		kmsg.RemoveRaftVoter:     {0, 0, (*Handlers).removeRaftVoter, false},
		kmsg.UpdateRaftVoter:     {0, 0, (*Handlers).updateRaftVoter, false},
	}
}

// Supported implements server.Handler.
func (h *Handlers) Supported(key, version int16) bool {
	a, ok := h.reg[kmsg.Key(key)]
	return ok && version >= a.min && version <= a.max
}

// Handle implements server.Handler: it dispatches by API key.
func (h *Handlers) Handle(ctx context.Context, req *server.Request) server.Reply {
	a, ok := h.reg[kmsg.Key(req.Body.Key())]
	if !ok {
		return server.Reply{Close: true}
	}
	start := time.Now()
	var reply server.Reply
	switch {
	case a.admin && !h.controllerIsLocal():
		reply = h.forward(ctx, req)
	case a.admin:
		reply = a.serve(h, ctx, req)
		h.awaitPublished(ctx)
	default:
		reply = a.serve(h, ctx, req)
	}
	reply = h.requestQuota(req, time.Since(start), reply)
	if h.d.Observe != nil {
		reply = h.observe(kmsg.NameForKey(req.Body.Key()), start, reply)
	}
	return reply
}

// observe reports the request's total time once its response is ready:
// at once, or when a delayed response arrives.
func (h *Handlers) observe(api string, start time.Time, reply server.Reply) server.Reply {
	if reply.Wait == nil {
		h.d.Observe(api, time.Since(start))
		return reply
	}
	inner := reply.Wait
	out := make(chan kmsg.Response, 1)
	go func() {
		resp, ok := <-inner
		h.d.Observe(api, time.Since(start))
		if !ok {
			close(out)
			return
		}
		out <- resp
	}()
	reply.Wait = out
	return reply
}

// respond wraps an immediate response, setting its version to the request's.
func respond(req *server.Request, resp kmsg.Response) server.Reply {
	resp.SetVersion(req.Body.GetVersion())
	return server.Reply{Response: resp}
}

// awaitPublished waits (bounded) until this node's published image holds
// what its controller has applied, so that an admin change answered here
// is visible to the client's next request here, as a forwarded one is
// (forward.go).
func (h *Handlers) awaitPublished(ctx context.Context) {
	if h.d.Controller == nil || h.d.WaitMetadata == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	_ = h.d.WaitMetadata(ctx, h.d.Controller.AppliedOffset())
}
