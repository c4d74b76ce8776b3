package metadata

import (
	"fmt"
	"maps"
	"slices"
	"sort"
)

// BrokerInfo is a registered broker as the image holds it.
type BrokerInfo struct {
	ID                   int32
	Epoch                int64
	Incarnation          string
	Endpoints            []Endpoint
	Rack                 string
	Fenced               bool
	InControlledShutdown bool
}

// Endpoint returns the named listener's endpoint.
func (b BrokerInfo) Endpoint(listener string) (Endpoint, bool) {
	for _, e := range b.Endpoints {
		if e.Name == listener {
			return e, true
		}
	}
	return Endpoint{}, false
}

// PartitionImage is one partition's replication state.
type PartitionImage struct {
	Replicas []int32
	ISR      []int32
	// ELR (KIP-966's eligible leader replicas) are replicas that left the
	// ISR while it was smaller than min.insync.replicas. The high
	// watermark cannot advance in that state, so each of them holds every
	// committed record and may lead when no ISR member can. Empty while
	// the ISR is at least min.insync.replicas.
	ELR            []int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	// LastKnownELR (KIP-966, as Kafka fills it) names the partition's
	// last leader while no ISR or ELR member can lead: it is set when the
	// partition loses its leader for want of a usable ISR or ELR member,
	// and cleared once it has a leader again.
	LastKnownELR []int32
	// AddingReplicas and RemovingReplicas are a reassignment in progress
	// (KIP-455): Replicas holds the target replicas followed by the
	// RemovingReplicas; the AddingReplicas are target replicas still
	// catching up. Both are empty when no reassignment is in progress.
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// Reassigning reports whether a reassignment of the partition is in
// progress.
func (p PartitionImage) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// TargetReplicas returns the replicas the partition will have once its
// reassignment completes (Replicas when none is in progress).
func (p PartitionImage) TargetReplicas() []int32 {
	out := make([]int32, 0, len(p.Replicas))
	for _, r := range p.Replicas {
		if !slices.Contains(p.RemovingReplicas, r) {
			out = append(out, r)
		}
	}
	return out
}

// TopicImage is one topic. Partitions[i] is partition i.
type TopicImage struct {
	Name       string
	ID         UUID
	Partitions []PartitionImage
}

// ConfigKey names a config resource.
type ConfigKey struct {
	Type int8
	Name string
}

// Image is the cluster metadata at one offset of the metadata log. An Image
// is immutable: Apply returns a new one and leaves the receiver intact, so
// readers may hold an Image without locks.
type Image struct {
	// Offset is the metadata log offset of the last record applied, -1 for
	// the empty image.
	Offset       int64
	ClusterID    string
	Brokers      map[int32]BrokerInfo
	Topics       map[UUID]*TopicImage
	TopicsByName map[string]UUID
	Configs      map[ConfigKey]map[string]string
	// NextProducerID is the first producer id not yet handed out.
	NextProducerID int64
	// Security holds ACLs and SCRAM credentials; nil means none. Use
	// ACLSet, ScramCredential and ScramCredentials to read it.
	Security *Security
	// Quotas holds the client quotas by entity; nil means none. Use
	// ClientQuotas to read it (quotas.go).
	Quotas map[QuotaEntity]map[string]float64
}

// Empty returns the image before any record.
func Empty() *Image {
	return &Image{
		Offset:       -1,
		Brokers:      map[int32]BrokerInfo{},
		Topics:       map[UUID]*TopicImage{},
		TopicsByName: map[string]UUID{},
		Configs:      map[ConfigKey]map[string]string{},
	}
}

// Topic looks a topic up by name.
func (img *Image) Topic(name string) (*TopicImage, bool) {
	id, ok := img.TopicsByName[name]
	if !ok {
		return nil, false
	}
	return img.Topics[id], true
}

// TopicConfig returns a topic's dynamic config overrides (never nil).
func (img *Image) TopicConfig(name string) map[string]string {
	if c := img.Configs[ConfigKey{ResourceTopic, name}]; c != nil {
		return c
	}
	return map[string]string{}
}

// BrokerConfig returns the dynamic configs of a broker resource: name is
// a broker id, or "" for the cluster-wide default. The map (nil if none)
// belongs to the image: do not modify it.
func (img *Image) BrokerConfig(name string) map[string]string {
	return img.Configs[ConfigKey{ResourceBroker, name}]
}

// TopicNames returns every topic name, sorted.
func (img *Image) TopicNames() []string {
	names := slices.Collect(maps.Keys(img.TopicsByName))
	sort.Strings(names)
	return names
}

// Delta says what one Apply changed, so a broker can reconcile only that.
type Delta struct {
	// Topics whose partitions were created or changed (by id), with the
	// partitions touched.
	ChangedPartitions map[UUID]map[int32]bool
	// Deleted topics as they were before deletion.
	DeletedTopics map[UUID]*TopicImage
	// ChangedConfigs lists config resources that changed.
	ChangedConfigs map[ConfigKey]bool
	// ChangedBrokers lists brokers registered, changed or removed.
	ChangedBrokers map[int32]bool
	// ChangedSecurity is set when ACLs or SCRAM credentials changed.
	ChangedSecurity bool
}

func newDelta() *Delta {
	return &Delta{
		ChangedPartitions: map[UUID]map[int32]bool{},
		DeletedTopics:     map[UUID]*TopicImage{},
		ChangedConfigs:    map[ConfigKey]bool{},
		ChangedBrokers:    map[int32]bool{},
	}
}

// Empty reports whether the delta changed nothing.
func (d *Delta) Empty() bool {
	return len(d.ChangedPartitions) == 0 && len(d.DeletedTopics) == 0 &&
		len(d.ChangedConfigs) == 0 && len(d.ChangedBrokers) == 0 && !d.ChangedSecurity
}

// Apply replays the records of one metadata log entry at offset, all or
// none, and returns the new image and what changed. A record that does not
// fit the image (a partition of an unknown topic, say) is an error and
// leaves the receiver as it was; since every node replays the same entries
// against the same image, every node rejects the same entries.
func (img *Image) Apply(offset int64, recs []Record) (*Image, *Delta, error) {
	b := &builder{img: img.shallowCopy(), delta: newDelta(), copied: map[UUID]bool{}}
	for i, r := range recs {
		if err := b.apply(offset, r); err != nil {
			return nil, nil, fmt.Errorf("metadata: entry at offset %d, record %d: %w", offset, i, err)
		}
	}
	b.img.Offset = offset
	return b.img, b.delta, nil
}

// shallowCopy copies the Image struct; its maps are shared until the
// builder's first write to each.
func (img *Image) shallowCopy() *Image {
	c := *img
	return &c
}

// MergeDeltas returns one delta that changes what the given deltas, in
// order, change together: reconciling it against the image after the last
// of them does what reconciling each against its own image would end in.
// A topic created and deleted within them is listed as deleted and
// changed; the changed partitions of topics absent from that image are to
// be skipped. The inputs are not modified.
func MergeDeltas(ds []*Delta) *Delta {
	if len(ds) == 1 {
		return ds[0]
	}
	out := newDelta()
	for _, d := range ds {
		for id, parts := range d.ChangedPartitions {
			m := out.ChangedPartitions[id]
			if m == nil {
				m = map[int32]bool{}
				out.ChangedPartitions[id] = m
			}
			maps.Copy(m, parts)
		}
		maps.Copy(out.DeletedTopics, d.DeletedTopics)
		maps.Copy(out.ChangedConfigs, d.ChangedConfigs)
		maps.Copy(out.ChangedBrokers, d.ChangedBrokers)
		out.ChangedSecurity = out.ChangedSecurity || d.ChangedSecurity
	}
	return out
}
