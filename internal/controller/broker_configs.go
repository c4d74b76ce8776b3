package controller

import (
	"fmt"
	"maps"
	"strconv"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// alterBrokerConfigs decides a change to the dynamic configs of a broker
// resource: ResourceName a broker id, or "" for the cluster-wide default
// (Kafka's KIP-226 dynamic broker configs, stored as Config records).
// As Kafka, a name that is not a broker id is INVALID_REQUEST, and so is
// every invalid config (Kafka's broker-side validation answers
// INVALID_REQUEST, not INVALID_CONFIG): a read-only (static) config, a
// malformed value, and, unlike Kafka, an unknown name. Only the configs
// the change sets are validated, so a config stored earlier can always be
// deleted. Turning unclean.leader.election.enable on elects leaders for
// the leaderless partitions it now allows, in the same entry.
func (c *Controller) alterBrokerConfigs(t *txn, r AlterConfigs) error {
	if err := checkBrokerResource(r.ResourceName); err != nil {
		return err
	}
	img := t.image()
	old := img.BrokerConfig(r.ResourceName)
	next, err := applyOpsWith(old, r, brokerConfigDef(old))
	if err != nil {
		return err
	}
	if err := config.ValidateDynamic(setBy(old, next)); err != nil {
		return fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
	}
	if r.ValidateOnly {
		return nil
	}
	t.add(diffConfigs(metadata.ResourceBroker, r.ResourceName, old, next)...)
	const unclean = "unclean.leader.election.enable"
	if old[unclean] != next[unclean] {
		img := t.image()
		for _, name := range img.TopicNames() {
			t.add(c.electUncleanNow(img, name)...)
		}
	}
	return nil
}

// checkBrokerResource accepts "" (the cluster default) and non-negative
// decimal broker ids, as Kafka's ControllerConfigurationValidator.
func checkBrokerResource(name string) error {
	if name == "" {
		return nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return fmt.Errorf("%w: broker id must be an integer, but it is: %q", kerr.InvalidRequest, name)
	}
	if id < 0 {
		return fmt.Errorf("%w: invalid negative broker id %d", kerr.InvalidRequest, id)
	}
	return nil
}

// brokerConfigDef looks up the names of a broker config change: a broker
// config's definition; a name stored before (which a later release may
// no longer know) as a string, so that it can be deleted; any other name
// is unknown (INVALID_REQUEST).
func brokerConfigDef(old map[string]string) func(string) (config.Def, error) {
	return func(name string) (config.Def, error) {
		if d, ok := config.LookupBroker(name); ok {
			return d, nil
		}
		if _, ok := old[name]; ok {
			return config.Def{Name: name, Type: config.TypeString}, nil
		}
		return config.Def{}, fmt.Errorf("%w: unknown broker config name: %s", kerr.InvalidRequest, name)
	}
}

// setBy returns the configs of next that old lacks or holds with another
// value.
func setBy(old, next map[string]string) map[string]string {
	out := maps.Clone(next)
	maps.DeleteFunc(out, func(k, v string) bool {
		ov, ok := old[k]
		return ok && ov == v
	})
	return out
}

// topicConfig is a topic's effective config on img as the controller
// decides with it: the topic's overrides, then the dynamic configs img
// holds for this node and for the cluster, then this node's static
// config (Kafka's ConfigurationControlManager.getTopicConfig). It reads
// the image it is given, so a decision replays identically.
func (c *Controller) topicConfig(img *metadata.Image, topic string) config.Topic {
	b := c.o.Config.WithDynamic(img.BrokerConfig(strconv.Itoa(int(c.o.NodeID))), img.BrokerConfig(""))
	return config.NewTopic(img.TopicConfig(topic), b)
}
