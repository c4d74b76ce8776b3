package ctlclient

import (
	"context"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ControllerEndpoints asks the controller at addr for the metadata
// quorum's voters and their controller listeners (DescribeQuorum v2's
// nodes, which Fjord's controllers include even when they do not lead).
// Observers use it to find voters added after their
// controller.quorum.voters was written.
func (c *Client) ControllerEndpoints(ctx context.Context, addr string) (map[int32]string, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.SetVersion(2)
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = []kmsg.DescribeQuorumRequestTopic{rt}
	resp, err := c.sendTo(ctx, addr, req)
	if err != nil {
		return nil, err
	}
	out := map[int32]string{}
	for _, n := range resp.(*kmsg.DescribeQuorumResponse).Nodes {
		if len(n.Listeners) > 0 {
			l := n.Listeners[0]
			out[n.NodeID] = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
		}
	}
	return out, nil
}
