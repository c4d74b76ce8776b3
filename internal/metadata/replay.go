package metadata

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ErrInconsistent is returned when a record contradicts the image.
var ErrInconsistent = errors.New("record inconsistent with image")

// builder applies records to a private copy of an image. Each top-level
// map and each topic is copied on its first write within the entry, so
// the source image is never modified and an entry costs what it changes:
// a heartbeat's fence copies the brokers, a leader change the topics map
// and the changed topics, never every map of the image.
type builder struct {
	img    *Image
	delta  *Delta
	copied map[UUID]bool
	// Which of img's maps are already private copies.
	brokersCopied, topicsCopied, byNameCopied, configsCopied bool
	// Copy-on-write of the security state within one entry.
	securityCopied, aclsCopied, scramCopied bool
	// Copy-on-write of the client quotas (quotas.go).
	quotasCopied bool
}

// own returns *m for writing, replacing it by a private copy on the
// entry's first write; copied says whether it already is one.
func own[K comparable, V any](m *map[K]V, copied *bool) map[K]V {
	if !*copied {
		*m, *copied = maps.Clone(*m), true
	}
	return *m
}

func (b *builder) brokers() map[int32]BrokerInfo { return own(&b.img.Brokers, &b.brokersCopied) }

func (b *builder) topics() map[UUID]*TopicImage { return own(&b.img.Topics, &b.topicsCopied) }

func (b *builder) topicsByName() map[string]UUID { return own(&b.img.TopicsByName, &b.byNameCopied) }

func (b *builder) configs() map[ConfigKey]map[string]string {
	return own(&b.img.Configs, &b.configsCopied)
}

func (b *builder) apply(off int64, r Record) error {
	switch r := r.(type) {
	case ClusterID:
		b.img.ClusterID = r.ID
	case RegisterBroker:
		b.registerBroker(off, r)
	case BrokerRegistrationChange:
		return b.changeBroker(r)
	case UnregisterBroker:
		delete(b.brokers(), r.ID)
		b.delta.ChangedBrokers[r.ID] = true
	case Topic:
		return b.createTopic(r)
	case Partition:
		return b.createPartition(r)
	case PartitionChange:
		return b.changePartition(r)
	case RemoveTopic:
		return b.removeTopic(r)
	case Config:
		b.setConfig(r)
	case ProducerIDs:
		b.img.NextProducerID = r.NextID
	case AccessControlEntry:
		return b.addACL(r)
	case RemoveAccessControlEntry:
		return b.removeACL(r)
	case ScramCredential:
		b.setScram(r)
	case RemoveScramCredential:
		return b.removeScram(r)
	case ClientQuota:
		return b.setClientQuota(r)
	default:
		return fmt.Errorf("%w: %T", ErrUnknownRecord, r)
	}
	return nil
}

func (b *builder) registerBroker(off int64, r RegisterBroker) {
	epoch := r.Epoch
	if epoch == 0 {
		epoch = off
	}
	b.brokers()[r.ID] = BrokerInfo{
		ID: r.ID, Epoch: epoch, Incarnation: r.Incarnation, Endpoints: slices.Clone(r.Endpoints),
		Rack: r.Rack, Fenced: r.Fenced,
	}
	b.delta.ChangedBrokers[r.ID] = true
}

func (b *builder) changeBroker(r BrokerRegistrationChange) error {
	br, ok := b.img.Brokers[r.ID]
	if !ok || br.Epoch != r.Epoch {
		return fmt.Errorf("%w: broker %d epoch %d not registered", ErrInconsistent, r.ID, r.Epoch)
	}
	if r.Fenced != nil {
		br.Fenced = *r.Fenced
	}
	if r.InControlledShutdown != nil {
		br.InControlledShutdown = *r.InControlledShutdown
	}
	b.brokers()[r.ID] = br
	b.delta.ChangedBrokers[r.ID] = true
	return nil
}

func (b *builder) createTopic(r Topic) error {
	if _, ok := b.img.TopicsByName[r.Name]; ok {
		return fmt.Errorf("%w: topic %q exists", ErrInconsistent, r.Name)
	}
	if _, ok := b.img.Topics[r.ID]; ok {
		return fmt.Errorf("%w: topic id %s exists", ErrInconsistent, r.ID)
	}
	b.topics()[r.ID] = &TopicImage{Name: r.Name, ID: r.ID}
	b.topicsByName()[r.Name] = r.ID
	b.copied[r.ID] = true
	b.touch(r.ID, -1)
	return nil
}

// topic returns a writable copy of the topic.
func (b *builder) topic(id UUID) (*TopicImage, error) {
	t, ok := b.img.Topics[id]
	if !ok {
		return nil, fmt.Errorf("%w: unknown topic id %s", ErrInconsistent, id)
	}
	if !b.copied[id] {
		c := *t
		c.Partitions = slices.Clone(t.Partitions)
		t = &c
		b.topics()[id] = t
		b.copied[id] = true
	}
	return t, nil
}

func (b *builder) touch(id UUID, p int32) {
	m := b.delta.ChangedPartitions[id]
	if m == nil {
		m = map[int32]bool{}
		b.delta.ChangedPartitions[id] = m
	}
	if p >= 0 {
		m[p] = true
	}
}

func (b *builder) createPartition(r Partition) error {
	t, err := b.topic(r.TopicID)
	if err != nil {
		return err
	}
	if int(r.Partition) != len(t.Partitions) {
		return fmt.Errorf("%w: partition %d of %s out of order", ErrInconsistent, r.Partition, t.Name)
	}
	t.Partitions = append(t.Partitions, PartitionImage{
		Replicas: slices.Clone(r.Replicas), ISR: slices.Clone(r.ISR), ELR: slices.Clone(r.ELR),
		LastKnownELR: slices.Clone(r.LastKnownELR), Leader: r.Leader, LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch,
		AddingReplicas: replaced(r.AddingReplicas), RemovingReplicas: replaced(r.RemovingReplicas),
	})
	b.touch(r.TopicID, r.Partition)
	return nil
}

func (b *builder) changePartition(r PartitionChange) error {
	t, err := b.topic(r.TopicID)
	if err != nil {
		return err
	}
	if r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
		return fmt.Errorf("%w: unknown partition %d of %s", ErrInconsistent, r.Partition, t.Name)
	}
	p := t.Partitions[r.Partition]
	if r.Leader != nil && *r.Leader != p.Leader {
		p.Leader = *r.Leader
		p.LeaderEpoch++
	}
	if r.ISR != nil {
		p.ISR = slices.Clone(r.ISR)
	}
	if r.ELR != nil {
		p.ELR = replaced(*r.ELR)
	}
	if r.LastKnownELR != nil {
		p.LastKnownELR = replaced(*r.LastKnownELR)
	}
	if r.Replicas != nil {
		p.Replicas = slices.Clone(r.Replicas)
	}
	if r.AddingReplicas != nil {
		p.AddingReplicas = replaced(*r.AddingReplicas)
	}
	if r.RemovingReplicas != nil {
		p.RemovingReplicas = replaced(*r.RemovingReplicas)
	}
	p.PartitionEpoch++
	t.Partitions[r.Partition] = p
	b.touch(r.TopicID, r.Partition)
	return nil
}

// replaced is a copy of a replacing list, nil when empty.
func replaced(xs []int32) []int32 {
	if len(xs) == 0 {
		return nil
	}
	return slices.Clone(xs)
}

func (b *builder) removeTopic(r RemoveTopic) error {
	t, ok := b.img.Topics[r.TopicID]
	if !ok {
		return fmt.Errorf("%w: unknown topic id %s", ErrInconsistent, r.TopicID)
	}
	delete(b.topics(), r.TopicID)
	delete(b.topicsByName(), t.Name)
	delete(b.configs(), ConfigKey{ResourceTopic, t.Name})
	delete(b.delta.ChangedPartitions, r.TopicID)
	b.delta.DeletedTopics[r.TopicID] = t
	b.delta.ChangedConfigs[ConfigKey{ResourceTopic, t.Name}] = true
	return nil
}

func (b *builder) setConfig(r Config) {
	key := ConfigKey{r.ResourceType, r.ResourceName}
	m := maps.Clone(b.img.Configs[key])
	if m == nil {
		m = map[string]string{}
	}
	if r.Value == nil {
		delete(m, r.Name)
	} else {
		m[r.Name] = *r.Value
	}
	if len(m) == 0 {
		delete(b.configs(), key)
	} else {
		b.configs()[key] = m
	}
	b.delta.ChangedConfigs[key] = true
}
