package main

// fjord configs: dynamic broker configs, as kafka-configs --entity-type
// brokers describes and alters them (--entity-name ID is --broker ID,
// --entity-default is --broker-defaults). The changes go through
// IncrementalAlterConfigs, are stored in the metadata log and apply
// without a restart.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configsTimeout bounds the admin requests of `fjord configs`.
var configsTimeout time.Duration

func init() {
	cmd := &cobra.Command{
		Use:   "configs",
		Short: "Describe and alter dynamic broker configs (kafka-configs --entity-type brokers)",
	}
	cmd.PersistentFlags().DurationVar(&configsTimeout, "timeout", 30*time.Second, "deadline for the admin requests")
	cmd.AddCommand(newConfigsDescribeCmd(), newConfigsAlterCmd())
	rootCmd.AddCommand(cmd)
}

// brokerEntity is the broker resource a command names: one broker's id,
// or the cluster-wide default (--broker-defaults).
type brokerEntity struct {
	id       int32
	defaults bool
}

func addBrokerEntityFlags(cmd *cobra.Command, e *brokerEntity) {
	cmd.Flags().Int32Var(&e.id, "broker", -1, "the broker's id")
	cmd.Flags().BoolVar(&e.defaults, "broker-defaults", false, "the cluster-wide default of every broker")
}

func (e brokerEntity) check() error {
	if (e.id >= 0) == e.defaults {
		return errors.New("give exactly one of --broker ID and --broker-defaults")
	}
	return nil
}

// brokers is the argument of kadm's broker config calls: none for the
// cluster default.
func (e brokerEntity) brokers() []int32 {
	if e.defaults {
		return nil
	}
	return []int32{e.id}
}

// name is the resource name: the id, or "" for the default.
func (e brokerEntity) name() string {
	if e.defaults {
		return ""
	}
	return strconv.Itoa(int(e.id))
}

func newConfigsDescribeCmd() *cobra.Command {
	var e brokerEntity
	var all bool
	cmd := &cobra.Command{
		Use:   "describe (--broker ID | --broker-defaults) [--all]",
		Short: "Print a broker's dynamic configs (--all: every config) or the cluster-wide defaults",
		Long: "Print configs as kafka-configs --describe does: name=value, whether it\n" +
			"is sensitive, and its synonyms (where the value may come from, most\n" +
			"preferred first: DYNAMIC_BROKER_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG,\n" +
			"STATIC_BROKER_CONFIG, DEFAULT_CONFIG). --broker ID lists the configs\n" +
			"set dynamically for that broker (with --all, every config of it);\n" +
			"--broker-defaults the cluster-wide dynamic defaults.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.check(); err != nil {
				return err
			}
			return withAdminFor(cmd, configsTimeout, func(ctx context.Context, adm *kadm.Client) error {
				return runConfigsDescribe(ctx, adm, cmd.OutOrStdout(), e, all)
			})
		},
	}
	addBrokerEntityFlags(cmd, &e)
	cmd.Flags().BoolVar(&all, "all", false, "list every config of the broker, not only the dynamic ones")
	return cmd
}

func runConfigsDescribe(ctx context.Context, adm *kadm.Client, w io.Writer, e brokerEntity, all bool) error {
	rcs, err := adm.DescribeBrokerConfigs(ctx, e.brokers()...)
	if err != nil {
		return err
	}
	rc, err := rcs.On(e.name(), nil)
	if err != nil {
		return fmt.Errorf("describing broker configs: no answer for %q", e.name())
	}
	if rc.Err != nil {
		return fmt.Errorf("describing broker configs: %w", kafkaErr(rc.Err, rc.ErrMessage))
	}
	writeBrokerConfigs(w, e, all, rc.Configs)
	return nil
}

// writeBrokerConfigs prints configs as kafka-configs --describe: a header,
// then one line per config sorted by name. Without all, only the configs
// set at the resource's own level are listed (DYNAMIC_BROKER_CONFIG for a
// broker, DYNAMIC_DEFAULT_BROKER_CONFIG for the default).
func writeBrokerConfigs(w io.Writer, e brokerEntity, all bool, configs []kadm.Config) {
	want := kmsg.ConfigSourceDynamicBrokerConfig
	switch {
	case e.defaults:
		want = kmsg.ConfigSourceDynamicDefaultBrokerConfig
		fmt.Fprintln(w, "Default configs for brokers in the cluster are:")
	case all:
		fmt.Fprintf(w, "All configs for broker %d are:\n", e.id)
	default:
		fmt.Fprintf(w, "Dynamic configs for broker %d are:\n", e.id)
	}
	configs = slices.Clone(configs)
	slices.SortFunc(configs, func(a, b kadm.Config) int { return cmp.Compare(a.Key, b.Key) })
	for _, c := range configs {
		if !all && c.Source != want {
			continue
		}
		syns := make([]string, len(c.Synonyms))
		for i, s := range c.Synonyms {
			syns[i] = fmt.Sprintf("%s:%s=%s", s.Source, s.Key, nullable(s.Value))
		}
		fmt.Fprintf(w, "  %s=%s sensitive=%t synonyms={%s}\n", c.Key, nullable(c.Value), c.Sensitive, strings.Join(syns, ", "))
	}
}

// nullable prints a config value as Java does: null when absent.
func nullable(v *string) string {
	if v == nil {
		return "null"
	}
	return *v
}

func newConfigsAlterCmd() *cobra.Command {
	var e brokerEntity
	var adds, deletes []string
	cmd := &cobra.Command{
		Use:   "alter (--broker ID | --broker-defaults) [--add-config k=v,k2=v2] [--delete-config k,k2]",
		Short: "Set or delete dynamic configs of a broker or the cluster-wide defaults",
		Long: "Set (--add-config) and delete (--delete-config) dynamic broker configs,\n" +
			"as kafka-configs --alter does. --add-config takes comma-separated\n" +
			"key=value pairs; a value holding commas goes in square brackets\n" +
			"(k=[a,b]). Only dynamic configs may be changed; the others are\n" +
			"read-only (describe --all marks where each value comes from).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.check(); err != nil {
				return err
			}
			alters, err := brokerConfigAlters(adds, deletes)
			if err != nil {
				return err
			}
			return withAdminFor(cmd, configsTimeout, func(ctx context.Context, adm *kadm.Client) error {
				return runConfigsAlter(ctx, adm, cmd.OutOrStdout(), e, alters)
			})
		},
	}
	addBrokerEntityFlags(cmd, &e)
	cmd.Flags().StringArrayVar(&adds, "add-config", nil, "configs to set: k=v,k2=v2 (repeatable)")
	cmd.Flags().StringArrayVar(&deletes, "delete-config", nil, "configs to delete: k,k2 (repeatable)")
	return cmd
}

// brokerConfigAlters turns --add-config and --delete-config into
// incremental operations; a config named twice is an error.
func brokerConfigAlters(adds, deletes []string) ([]kadm.AlterConfig, error) {
	var alters []kadm.AlterConfig
	seen := map[string]bool{}
	note := func(k string) error {
		if seen[k] {
			return fmt.Errorf("config %q given twice", k)
		}
		seen[k] = true
		return nil
	}
	for _, a := range adds {
		for _, kv := range splitConfigList(a) {
			k, v, err := parseKeyValue(kv)
			if err != nil {
				return nil, err
			}
			if err := note(k); err != nil {
				return nil, err
			}
			v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
			alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
		}
	}
	for _, d := range deletes {
		for _, k := range strings.Split(d, ",") {
			if k = strings.TrimSpace(k); k == "" || strings.Contains(k, "=") {
				return nil, fmt.Errorf("invalid --delete-config %q: want config names", d)
			}
			if err := note(k); err != nil {
				return nil, err
			}
			alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
		}
	}
	if len(alters) == 0 {
		return nil, errors.New("nothing to change: give --add-config and/or --delete-config")
	}
	return alters, nil
}

// splitConfigList splits k=v,k2=[a,b] at the commas outside brackets.
func splitConfigList(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '[':
			depth++
		case ']':
			depth = max(0, depth-1)
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func runConfigsAlter(ctx context.Context, adm *kadm.Client, w io.Writer, e brokerEntity, alters []kadm.AlterConfig) error {
	resps, err := adm.AlterBrokerConfigs(ctx, alters, e.brokers()...)
	if err != nil {
		return err
	}
	r, err := resps.On(e.name(), nil)
	if err != nil {
		return fmt.Errorf("altering broker configs: no answer for %q", e.name())
	}
	if r.Err != nil {
		return fmt.Errorf("altering broker configs: %w", kafkaErr(r.Err, r.ErrMessage))
	}
	if e.defaults {
		fmt.Fprintln(w, "Completed updating default config for brokers in the cluster.")
	} else {
		fmt.Fprintf(w, "Completed updating config for broker %d.\n", e.id)
	}
	return nil
}
