package broker

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/fjordlog/fjord/internal/coordinator"
	"github.com/fjordlog/fjord/internal/ctlclient"
	"github.com/fjordlog/fjord/internal/handlers"
	"github.com/fjordlog/fjord/internal/txn"
)

// The node's side of transactions: its transaction coordinators, the
// inter-broker client they (and the produce path's verification) use,
// and the marker sender.

// pidTimeout bounds a coordinator's wait for a producer id block.
const pidTimeout = 10 * time.Second

// txnConfig takes the transaction coordinators' settings from the broker
// config.
func (b *Broker) txnConfig() txn.Config {
	cfg := txn.DefaultConfig()
	ms := func(name string) time.Duration { return time.Duration(b.cfg.Int(name)) * time.Millisecond }
	cfg.MaxTimeout = ms("transaction.max.timeout.ms")
	cfg.IDExpiration = ms("transactional.id.expiration.ms")
	cfg.AbortCheckInterval = ms("transaction.abort.timed.out.transaction.cleanup.interval.ms")
	cfg.ExpirationCheckInterval = ms("transaction.remove.expired.transaction.cleanup.interval.ms")
	cfg.OffsetsPartitions = int32(b.cfg.Int("offsets.topic.num.partitions"))
	cfg.TransactionVersion = int16(b.cfg.Int("transaction.version"))
	cfg.NewProducerID = func() (int64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), pidTimeout)
		defer cancel()
		return b.pids.NextProducerID(ctx)
	}
	return cfg
}

// newTxnManager builds the node's transaction coordinators.
func (b *Broker) newTxnManager() *coordinator.TxnManager {
	return coordinator.NewTxnManager(coordinator.TxnOptions{
		NodeID: b.nodeID, Config: b.txnConfig(), Partitions: b.txnPartitions,
		Markers: coordinator.NewMarkerSender(b.partitionLeader, b.markers.Request), Logger: b.logger, Now: b.now,
	})
}

// txnPartitions is the partition count of __transaction_state, 0 while it
// does not exist.
func (b *Broker) txnPartitions() int32 {
	t, ok := b.meta.Image().Topic(handlers.TransactionTopic)
	if !ok {
		return 0
	}
	return int32(len(t.Partitions))
}

// partitionLeader implements coordinator.Leader over the current
// metadata.
func (b *Broker) partitionLeader(topic string, idx int32) (int32, bool) {
	t, ok := b.meta.Image().Topic(topic)
	if !ok || idx < 0 || int(idx) >= len(t.Partitions) {
		return -1, false
	}
	return t.Partitions[idx].Leader, true
}

// newBrokersClient is a client of the brokers' inter-broker listener
// (this node's own included), its client id prefix followed by the node
// id.
func (b *Broker) newBrokersClient(clientID string) (*ctlclient.Brokers, error) {
	opts, err := b.clientOptions(strings.ToUpper(b.cfg.String("inter.broker.listener.name")), "sasl.mechanism.inter.broker.protocol")
	if err != nil {
		return nil, err
	}
	return ctlclient.NewBrokers(b.brokerAddr, clientID+strconv.Itoa(int(b.nodeID)), opts...), nil
}
