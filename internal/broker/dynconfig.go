package broker

import (
	"strconv"

	"github.com/fjordlog/fjord/internal/metadata"
)

// applyDynamicConfig makes the dynamic broker configs of img (this
// node's, resource name = its id, and the cluster-wide default, "") the
// dynamic layer of the node's configuration, which every reader of a
// dynamic config sees from then on (config.Broker.SetDynamic). When they
// changed, every local replica gets its topic's config anew, so broker
// defaults such as log.retention.ms or message.max.bytes apply to topics
// without overrides at once, as Kafka's DynamicLogConfig does.
//
// Called by reconcile on the reconciler goroutine, first, so replicas it
// creates get the new configs too. It compares the configs themselves
// rather than trusting the delta, so a restored snapshot that drops them
// also clears them.
func (b *Broker) applyDynamicConfig(img *metadata.Image) {
	own, defaults := img.BrokerConfig(strconv.Itoa(int(b.nodeID))), img.BrokerConfig("")
	if b.cfg.DynamicEqual(own, defaults) {
		return
	}
	b.cfg.SetDynamic(own, defaults)
	b.logger.Info("dynamic broker configs changed", "broker", own, "cluster_default", defaults)
	for _, name := range img.TopicNames() {
		b.reconfigure(img, name)
	}
}
