package handlers

// Metadata (key 3), versions 0-12.
//
// Lists the live brokers on the listener the request came in on, the
// controller, and the requested topics (all topics when the list is null,
// or empty for v0) with each partition's leader, leader epoch, replicas,
// ISR and offline replicas. Unknown topics are auto-created when
// auto.create.topics.enable is true and the request allows it (v4+ flag;
// always for v0-3). As Kafka, the answer for a topic this request
// created (or found created meanwhile) is LEADER_NOT_AVAILABLE with no id
// and no partitions, even when the creation completed at once: clients
// retry and see the topic in their next request. A creation the
// controller refused reports its error; one that could not reach the
// controller is LEADER_NOT_AVAILABLE too. Topic ids are reported from
// v10; lookups by id (v12) are answered.
//
// Authorization (as Kafka): a request for all topics lists only those the
// principal may DESCRIBE; a topic asked by name without DESCRIBE gets
// TOPIC_AUTHORIZATION_FAILED with no id or partitions, whether or not it
// exists (by id: the id and no name), and is never auto-created.
// Auto-creation needs CREATE on the cluster or on the topic, else
// TOPIC_AUTHORIZATION_FAILED. ClusterAuthorizedOperations (v8-10) and
// TopicAuthorizedOperations (v8+) are filled when asked (Kafka's bitfields;
// the cluster's is 0 without DESCRIBE on the cluster).

import (
	"context"
	"slices"
	"time"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) metadata(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.MetadataRequest)
	img := h.d.Image()
	resp := kmsg.NewPtrMetadataResponse()
	resp.ClusterID = &img.ClusterID
	resp.ControllerID = h.controllerID()
	resp.Brokers = h.brokers(img, req.Listener)
	names, errs := h.requestedTopics(img, r)
	byID := h.authorizeTopics(req, img, r, &names, errs)
	if len(errs) > 0 && h.shouldAutoCreate(r) {
		img = h.autoCreate(ctx, actingAs(req.Listener, principal(req)), img, names, errs)
	}
	for _, name := range names {
		resp.Topics = append(resp.Topics, h.topicEntry(req, r, img, name, errs[name], byID[name]))
	}
	for _, id := range unknownIDs(img, r) {
		t := kmsg.NewMetadataResponseTopic()
		t.TopicID, t.ErrorCode = id, kerr.UnknownTopicID.Code
		resp.Topics = append(resp.Topics, t)
	}
	if r.Version <= 10 {
		resp.AuthorizedOperations = h.clusterAuthorizedOperations(req, r.IncludeClusterAuthorizedOperations)
	}
	return respond(req, resp)
}

// allTopicsRequested reports whether the request asks for every topic.
func allTopicsRequested(r *kmsg.MetadataRequest) bool {
	return r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0)
}

// authorizeTopics applies DESCRIBE and, for topics to auto-create, CREATE:
// undescribable topics leave a request for all topics, and otherwise get
// TOPIC_AUTHORIZATION_FAILED in errs, as do missing topics the principal
// may not create. It returns the names that were asked by id, among them.
func (h *Handlers) authorizeTopics(req *server.Request, img *metadata.Image, r *kmsg.MetadataRequest, names *[]string, errs map[string]error) map[string][16]byte {
	denied := h.deniedTopics(req, metadata.ACLOpDescribe, slices.Values(*names))
	if allTopicsRequested(r) {
		*names = slices.DeleteFunc(*names, func(n string) bool { return denied[n] })
		return nil
	}
	for n := range denied {
		errs[n] = kerr.TopicAuthorizationFailed
	}
	if h.shouldAutoCreate(r) {
		for n, err := range errs {
			if (err == kerr.UnknownTopicOrPartition || err == kerr.InvalidTopicException) && !h.authorizeCreateTopic(req, n) {
				errs[n] = kerr.TopicAuthorizationFailed
			}
		}
	}
	return askedByID(img, r)
}

// askedByID maps the names of the topics the request names by id to
// their ids.
func askedByID(img *metadata.Image, r *kmsg.MetadataRequest) map[string][16]byte {
	out := map[string][16]byte{}
	for _, t := range r.Topics {
		if ti, ok := img.Topics[metadata.UUID(t.TopicID)]; t.Topic == nil && ok {
			out[ti.Name] = t.TopicID
		}
	}
	return out
}

// topicEntry describes one requested topic; an authorization failure
// reveals nothing (no id and partitions; for a topic asked by id, its id
// but not its name).
func (h *Handlers) topicEntry(req *server.Request, r *kmsg.MetadataRequest, img *metadata.Image, name string, err error, id [16]byte) kmsg.MetadataResponseTopic {
	if err == kerr.TopicAuthorizationFailed {
		t := kmsg.NewMetadataResponseTopic()
		t.ErrorCode = kerr.TopicAuthorizationFailed.Code
		if t.TopicID = id; id == ([16]byte{}) {
			t.Topic = &name
		}
		return t
	}
	t := topicMetadata(img, name, err)
	if r.IncludeTopicAuthorizedOperations {
		t.AuthorizedOperations = h.authorizedOperations(req, metadata.ACLResourceTopic, name)
	}
	return t
}

// brokers lists the unfenced brokers' endpoints on the given listener.
func (h *Handlers) brokers(img *metadata.Image, listener string) []kmsg.MetadataResponseBroker {
	ids := make([]int32, 0, len(img.Brokers))
	for id := range img.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []kmsg.MetadataResponseBroker
	for _, id := range ids {
		b := img.Brokers[id]
		ep, ok := b.Endpoint(listener)
		if b.Fenced || !ok {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = id, ep.Host, ep.Port
		if b.Rack != "" {
			rack := b.Rack
			mb.Rack = &rack
		}
		out = append(out, mb)
	}
	return out
}

// requestedTopics returns the topic names to describe and, for names that
// do not exist (or are invalid), the error to report unless auto-created.
func (h *Handlers) requestedTopics(img *metadata.Image, r *kmsg.MetadataRequest) ([]string, map[string]error) {
	errs := map[string]error{}
	if allTopicsRequested(r) {
		return img.TopicNames(), errs
	}
	var names []string
	for _, t := range r.Topics {
		if t.Topic == nil {
			continue // looked up by id below
		}
		name := *t.Topic
		names = append(names, name)
		if _, ok := img.Topic(name); !ok {
			errs[name] = kerr.UnknownTopicOrPartition
			if err := controller.ValidateTopicName(name); err != nil {
				errs[name] = kerr.InvalidTopicException
			}
		}
	}
	for _, t := range r.Topics {
		if t.Topic == nil {
			if ti, ok := img.Topics[metadata.UUID(t.TopicID)]; ok {
				names = append(names, ti.Name)
			}
		}
	}
	return names, errs
}

func unknownIDs(img *metadata.Image, r *kmsg.MetadataRequest) [][16]byte {
	var out [][16]byte
	for _, t := range r.Topics {
		if t.Topic == nil {
			if _, ok := img.Topics[metadata.UUID(t.TopicID)]; !ok {
				out = append(out, t.TopicID)
			}
		}
	}
	return out
}

func (h *Handlers) shouldAutoCreate(r *kmsg.MetadataRequest) bool {
	return h.d.Config.Bool("auto.create.topics.enable") && (r.Version < 4 || r.AllowAutoTopicCreation)
}

// autoCreate creates the missing topics with the broker defaults, when
// allowed, and returns the image that includes them. Their errors become
// LEADER_NOT_AVAILABLE (created, or the controller out of reach), or what
// the creation returned.
func (h *Handlers) autoCreate(ctx context.Context, as *server.Session, img *metadata.Image, names []string, errs map[string]error) *metadata.Image {
	if !h.d.Config.Bool("auto.create.topics.enable") {
		return img
	}
	var reqs []controller.CreateTopic
	for _, name := range names {
		if errs[name] == kerr.UnknownTopicOrPartition {
			reqs = append(reqs, controller.CreateTopic{Name: name, NumPartitions: -1, ReplicationFactor: -1})
		}
	}
	if len(reqs) == 0 {
		return img
	}
	res, err := h.createForAutoCreate(ctx, as, reqs)
	if err != nil {
		for _, r := range reqs {
			errs[r.Name] = kerr.LeaderNotAvailable
		}
		return img
	}
	for _, r := range res {
		errs[r.Name] = r.Err
		if code := errorCode(r.Err); code == 0 || code == kerr.TopicAlreadyExists.Code {
			errs[r.Name] = kerr.LeaderNotAvailable
		}
	}
	return h.d.Image()
}

func topicMetadata(img *metadata.Image, name string, err error) kmsg.MetadataResponseTopic {
	t := kmsg.NewMetadataResponseTopic()
	t.Topic = &name
	ti, ok := img.Topic(name)
	if !ok || err != nil { // missing, or just auto-created
		if err == nil {
			err = kerr.LeaderNotAvailable
		}
		t.ErrorCode = errorCode(err)
		t.IsInternal = name == "__consumer_offsets"
		return t
	}
	t.TopicID = ti.ID
	t.IsInternal = name == "__consumer_offsets"
	for i, p := range ti.Partitions {
		t.Partitions = append(t.Partitions, partitionMetadata(img, int32(i), p))
	}
	return t
}

func partitionMetadata(img *metadata.Image, idx int32, p metadata.PartitionImage) kmsg.MetadataResponseTopicPartition {
	mp := kmsg.NewMetadataResponseTopicPartition()
	mp.Partition, mp.Leader, mp.LeaderEpoch = idx, p.Leader, p.LeaderEpoch
	mp.Replicas, mp.ISR = slices.Clone(p.Replicas), slices.Clone(p.ISR)
	mp.OfflineReplicas = []int32{}
	for _, r := range p.Replicas {
		if b, ok := img.Brokers[r]; !ok || b.Fenced {
			mp.OfflineReplicas = append(mp.OfflineReplicas, r)
		}
	}
	if p.Leader < 0 {
		mp.ErrorCode = kerr.LeaderNotAvailable.Code
	}
	return mp
}

// createForAutoCreate creates topics on the local active controller, or
// forwards a CreateTopics request to the active one, acting for the
// session's principal (as Kafka's auto-creation for a client's Metadata
// request), or for this node itself when as is nil (internal topics).
func (h *Handlers) createForAutoCreate(ctx context.Context, as *server.Session, reqs []controller.CreateTopic) ([]controller.TopicResult, error) {
	if h.controllerIsLocal() {
		res, err := h.d.Controller.CreateTopics(ctx, reqs)
		h.awaitPublished(ctx)
		return res, err
	}
	cr := kmsg.NewPtrCreateTopicsRequest()
	cr.SetVersion(7)
	cr.TimeoutMillis = int32(forwardTimeout / time.Millisecond)
	for _, r := range reqs {
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic, t.NumPartitions, t.ReplicationFactor = r.Name, r.NumPartitions, r.ReplicationFactor
		for k, v := range r.Configs {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, &v
			t.Configs = append(t.Configs, c)
		}
		cr.Topics = append(cr.Topics, t)
	}
	resp, err := h.forwardAndWait(ctx, &server.Request{ClientID: "fjord-auto-create", Body: cr, Session: as})
	if err != nil {
		return nil, err
	}
	var out []controller.TopicResult
	for _, t := range resp.(*kmsg.CreateTopicsResponse).Topics {
		out = append(out, controller.TopicResult{Name: t.Topic, Err: kerr.ErrorForCode(t.ErrorCode)})
	}
	return out, nil
}
