package main

// fjord quorum add | remove: change the controller quorum's voters
// (kafka-metadata-quorum add-controller / remove-controller) with
// AddRaftVoter and RemoveRaftVoter (KIP-853).
//
// Replacing a dead controller: start the new one with a node.id that is
// not in controller.quorum.voters (it then joins: it starts with an empty
// metadata log and waits to be added), `fjord quorum add --controller-id
// <new> --controller-endpoint <host:port of its controller listener>`,
// then `fjord quorum remove --controller-id <dead>`.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// voterRetryEvery spaces retries while the quorum's leader moves or a
// change is in progress.
const voterRetryEvery = 250 * time.Millisecond

func newQuorumAddCmd() *cobra.Command {
	var id int32
	var endpoint, listener string
	cmd := &cobra.Command{
		Use:     "add --controller-id ID --controller-endpoint HOST:PORT",
		Aliases: []string{"add-controller"},
		Short:   "Add a controller to the quorum's voters (kafka-metadata-quorum add-controller)",
		Long: "Add a running controller to the metadata quorum's voters. Start it first\n" +
			"with a node.id that is not in controller.quorum.voters, which must be the\n" +
			"cluster's own (the bootstrap voters; the cluster id derives from them\n" +
			"unless cluster.id is set): it then starts with an empty metadata log and\n" +
			"waits to be added. The quorum's leader sends it the log, as an observer,\n" +
			"and makes it a voter once it has caught up; one that has not caught up\n" +
			"by --timeout stays an observer (add again to go on, remove to drop it).\n" +
			"--controller-endpoint is the host:port of its controller listener.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id < 0 {
				return errors.New("--controller-id is required")
			}
			req, err := addVoterRequest(id, listener, endpoint)
			if err != nil {
				return err
			}
			return withKafka(cmd, quorumTimeout, func(ctx context.Context, cl *kgo.Client, _ *kadm.Client) error {
				if err := retryVoterChange(ctx, func(ctx context.Context) (int16, *string, error) {
					req.TimeoutMillis = requestTimeout(ctx)
					resp, err := req.RequestWith(ctx, cl)
					if err != nil {
						return 0, nil, err
					}
					return resp.ErrorCode, resp.ErrorMessage, nil
				}); err != nil {
					return fmt.Errorf("adding controller %d: %w", id, err)
				}
				writeVoterAdded(cmd.OutOrStdout(), req)
				return nil
			})
		},
	}
	cmd.Flags().Int32Var(&id, "controller-id", -1, "node.id of the controller to add")
	cmd.Flags().StringVar(&endpoint, "controller-endpoint", "", "host:port of its controller listener")
	cmd.Flags().StringVar(&listener, "controller-listener", "CONTROLLER", "the controller listener's name")
	_ = cmd.MarkFlagRequired("controller-endpoint")
	return cmd
}

func addVoterRequest(id int32, listener, endpoint string) (*kmsg.AddRaftVoterRequest, error) {
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return nil, fmt.Errorf("--controller-endpoint %q: %w", endpoint, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || host == "" || p == 0 {
		return nil, fmt.Errorf("--controller-endpoint %q: expected host:port", endpoint)
	}
	req := kmsg.NewPtrAddRaftVoterRequest()
	req.VoterID = id
	l := kmsg.NewAddRaftVoterRequestListener()
	l.Name, l.Host, l.Port = listener, host, uint16(p)
	req.Listeners = []kmsg.AddRaftVoterRequestListener{l}
	return req, nil
}

func newQuorumRemoveCmd() *cobra.Command {
	var id int32
	cmd := &cobra.Command{
		Use:     "remove --controller-id ID",
		Aliases: []string{"remove-controller"},
		Short:   "Remove a controller from the quorum's voters (kafka-metadata-quorum remove-controller)",
		Long: "Remove a controller (a dead one being replaced, or one being retired)\n" +
			"from the metadata quorum's voters. A controller that is still running\n" +
			"stays an observer (it keeps receiving the metadata log; remove it again\n" +
			"to drop it); a dead one leaves the quorum. Removing the leader is\n" +
			"allowed: it hands leadership to another voter.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id < 0 {
				return errors.New("--controller-id is required")
			}
			return withKafka(cmd, quorumTimeout, func(ctx context.Context, cl *kgo.Client, _ *kadm.Client) error {
				req := kmsg.NewPtrRemoveRaftVoterRequest()
				req.VoterID = id
				if err := retryVoterChange(ctx, func(ctx context.Context) (int16, *string, error) {
					resp, err := req.RequestWith(ctx, cl)
					if err != nil {
						return 0, nil, err
					}
					return resp.ErrorCode, resp.ErrorMessage, nil
				}); err != nil {
					return fmt.Errorf("removing controller %d: %w", id, err)
				}
				writeVoterRemoved(cmd.OutOrStdout(), req)
				return nil
			})
		},
	}
	cmd.Flags().Int32Var(&id, "controller-id", -1, "node.id of the controller to remove")
	return cmd
}

// retryVoterChange sends a voter change until it succeeds, fails for
// good, or ctx ends: NOT_LEADER_OR_FOLLOWER (leadership moving) and
// REQUEST_TIMED_OUT (a change in progress, a new voter still catching up)
// are retried.
func retryVoterChange(ctx context.Context, send func(context.Context) (int16, *string, error)) error {
	for {
		code, msg, err := send(ctx)
		if err == nil && code == 0 {
			return nil
		}
		if err == nil {
			err = kafkaErr(kerr.ErrorForCode(code), deref(msg))
		}
		if !errors.Is(err, kerr.NotLeaderForPartition) && !errors.Is(err, kerr.RequestTimedOut) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(voterRetryEvery):
		}
	}
}

// requestTimeout is AddRaftVoter's TimeoutMillis: what is left of ctx,
// at most Kafka's default 15 s.
func requestTimeout(ctx context.Context) int32 {
	d := 15 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	return int32(max(d, time.Second) / time.Millisecond)
}

// writeVoterAdded prints what kafka-metadata-quorum add-controller does.
func writeVoterAdded(w io.Writer, req *kmsg.AddRaftVoterRequest) {
	eps := ""
	for i, l := range req.Listeners {
		if i > 0 {
			eps += ", "
		}
		eps += fmt.Sprintf("%s://%s", l.Name, net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))))
	}
	fmt.Fprintf(w, "Added controller %d with directory id %s and endpoints: %s\n",
		req.VoterID, directoryID(req.VoterDirectoryID), eps)
}

// writeVoterRemoved prints what kafka-metadata-quorum remove-controller
// does.
func writeVoterRemoved(w io.Writer, req *kmsg.RemoveRaftVoterRequest) {
	fmt.Fprintf(w, "Removed KRaft controller %d with directory id %s\n", req.VoterID, directoryID(req.VoterDirectoryID))
}
