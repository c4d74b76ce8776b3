package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// quotasTimeout bounds every admin request made by `fjord quotas`.
var quotasTimeout time.Duration

func init() {
	cmd := &cobra.Command{
		Use:   "quotas",
		Short: "Describe and alter client quotas (like kafka-configs --entity-type users/clients)",
		Long: "Describe and alter the client quotas of users, client ids and (user, client id)\n" +
			"pairs, or their defaults, with the Kafka protocol's DescribeClientQuotas and\n" +
			"AlterClientQuotas. Keys: producer_byte_rate, consumer_byte_rate (bytes per\n" +
			"second), request_percentage, controller_mutation_rate.",
	}
	cmd.PersistentFlags().DurationVar(&quotasTimeout, "timeout", 30*time.Second, "deadline for the admin requests")
	cmd.AddCommand(newQuotasDescribeCmd(), newQuotasAlterCmd())
	rootCmd.AddCommand(cmd)
}

// quotaEntityFlags name an entity: a user or the default user, a client
// id or the default client id.
type quotaEntityFlags struct {
	user, clientID                 string
	userSet, clientSet             bool
	userDefaults, clientIDDefaults bool
}

func (e *quotaEntityFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&e.user, "user", "", "the user (principal name, e.g. alice or ANONYMOUS)")
	f.StringVar(&e.clientID, "client-id", "", "the client id")
	f.BoolVar(&e.userDefaults, "user-defaults", false, "the default user (<default>)")
	f.BoolVar(&e.clientIDDefaults, "client-defaults", false, "the default client id (<default>)")
}

// read notes which flags were given (an empty --client-id "" is a name).
func (e *quotaEntityFlags) read(cmd *cobra.Command) {
	e.userSet, e.clientSet = cmd.Flags().Changed("user"), cmd.Flags().Changed("client-id")
}

// entity returns the named entity, user part first; empty when no flag
// names one.
func (e quotaEntityFlags) entity() (kadm.ClientQuotaEntity, error) {
	if e.userSet && e.userDefaults {
		return nil, errors.New("give --user or --user-defaults, not both")
	}
	if e.clientSet && e.clientIDDefaults {
		return nil, errors.New("give --client-id or --client-defaults, not both")
	}
	var out kadm.ClientQuotaEntity
	switch {
	case e.userSet:
		out = append(out, kadm.ClientQuotaEntityComponent{Type: "user", Name: &e.user})
	case e.userDefaults:
		out = append(out, kadm.ClientQuotaEntityComponent{Type: "user"})
	}
	switch {
	case e.clientSet:
		out = append(out, kadm.ClientQuotaEntityComponent{Type: "client-id", Name: &e.clientID})
	case e.clientIDDefaults:
		out = append(out, kadm.ClientQuotaEntityComponent{Type: "client-id"})
	}
	return out, nil
}

// ---- describe ----

func newQuotasDescribeCmd() *cobra.Command {
	var e quotaEntityFlags
	cmd := &cobra.Command{
		Use:   "describe",
		Short: "Describe client quotas: those of exactly the entity named, or every quota",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e.read(cmd)
			ent, err := e.entity()
			if err != nil {
				return err
			}
			return withAdminFor(cmd, quotasTimeout, func(ctx context.Context, adm *kadm.Client) error {
				strict, comps := quotaDescribeFilter(ent)
				qs, err := adm.DescribeClientQuotas(ctx, strict, comps)
				if err != nil {
					return err
				}
				writeQuotas(cmd.OutOrStdout(), qs)
				return nil
			})
		},
	}
	e.register(cmd)
	return cmd
}

// quotaDescribeFilter matches exactly ent (strict), or everything when ent is
// empty (kafka-configs --describe --entity-type users --entity-name U).
func quotaDescribeFilter(ent kadm.ClientQuotaEntity) (bool, []kadm.DescribeClientQuotaComponent) {
	var comps []kadm.DescribeClientQuotaComponent
	for _, c := range ent {
		d := kadm.DescribeClientQuotaComponent{Type: c.Type, MatchName: c.Name, MatchType: 0}
		if c.Name == nil {
			d.MatchType = 1
		}
		comps = append(comps, d)
	}
	return len(comps) > 0, comps
}

// writeQuotas prints one line per entity, as kafka-configs --describe:
// Quota configs for user-principal 'alice', client-id 'app' are
// producer_byte_rate=5242880.0
func writeQuotas(w io.Writer, qs kadm.DescribedClientQuotas) {
	for _, q := range qs {
		vals := slices.Clone(q.Values)
		slices.SortFunc(vals, func(a, b kadm.ClientQuotaValue) int { return strings.Compare(a.Key, b.Key) })
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = v.Key + "=" + javaDouble(v.Value)
		}
		fmt.Fprintf(w, "Quota configs for %s are %s\n", describeEntity(q.Entity), strings.Join(parts, ", "))
	}
}

// describeEntity names an entity as kafka-configs does.
func describeEntity(ent kadm.ClientQuotaEntity) string {
	parts := make([]string, len(ent))
	for i, c := range ent {
		typ := c.Type
		if typ == "user" {
			typ = "user-principal"
		}
		if c.Name == nil {
			parts[i] = "the default " + typ
		} else {
			parts[i] = fmt.Sprintf("%s '%s'", typ, *c.Name)
		}
	}
	return strings.Join(parts, ", ")
}

// javaDouble formats v as Java's Double.toString (kafka-configs prints
// quota values that way): 1024.0, 12.5, 1.0E7.
func javaDouble(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	if a := math.Abs(v); v == 0 || (a >= 1e-3 && a < 1e7) {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(v, 'E', -1, 64) // 1E+07, 1.5E-05
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// ---- alter ----

type quotasAlterOpts struct {
	entity       quotaEntityFlags
	add          []string
	del          []string
	validateOnly bool
}

func newQuotasAlterCmd() *cobra.Command {
	var o quotasAlterOpts
	cmd := &cobra.Command{
		Use:   "alter",
		Short: "Set (--add-config) or remove (--delete-config) the quotas of one entity",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.entity.read(cmd)
			entry, err := quotaAlteration(o)
			if err != nil {
				return err
			}
			return withAdminFor(cmd, quotasTimeout, func(ctx context.Context, adm *kadm.Client) error {
				alter := adm.AlterClientQuotas
				if o.validateOnly {
					alter = adm.ValidateAlterClientQuotas
				}
				res, err := alter(ctx, []kadm.AlterClientQuotaEntry{entry})
				if err != nil {
					return err
				}
				return writeAlteredQuotas(cmd.OutOrStdout(), res, o.validateOnly)
			})
		},
	}
	o.entity.register(cmd)
	f := cmd.Flags()
	f.StringSliceVar(&o.add, "add-config", nil, "quotas to set, k=v[,k=v...] (e.g. producer_byte_rate=5242880)")
	f.StringSliceVar(&o.del, "delete-config", nil, "quotas to remove, k[,k...]")
	f.BoolVar(&o.validateOnly, "validate-only", false, "check the change without making it")
	return cmd
}

// quotaAlteration builds the entry of the alter flags.
func quotaAlteration(o quotasAlterOpts) (kadm.AlterClientQuotaEntry, error) {
	ent, err := o.entity.entity()
	if err != nil {
		return kadm.AlterClientQuotaEntry{}, err
	}
	if len(ent) == 0 {
		return kadm.AlterClientQuotaEntry{}, errors.New("name the entity: --user, --user-defaults, --client-id and/or --client-defaults")
	}
	if len(o.add) == 0 && len(o.del) == 0 {
		return kadm.AlterClientQuotaEntry{}, errors.New("nothing to change: give --add-config and/or --delete-config")
	}
	entry := kadm.AlterClientQuotaEntry{Entity: ent}
	for _, kv := range o.add {
		k, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || strings.TrimSpace(k) == "" || err != nil {
			return kadm.AlterClientQuotaEntry{}, fmt.Errorf("--add-config %q: want key=number", kv)
		}
		entry.Ops = append(entry.Ops, kadm.AlterClientQuotaOp{Key: strings.TrimSpace(k), Value: f})
	}
	for _, k := range o.del {
		if strings.TrimSpace(k) == "" {
			return kadm.AlterClientQuotaEntry{}, errors.New("--delete-config: empty key")
		}
		entry.Ops = append(entry.Ops, kadm.AlterClientQuotaOp{Key: strings.TrimSpace(k), Remove: true})
	}
	return entry, nil
}

// writeAlteredQuotas prints, as kafka-configs --alter, a line per entity
// changed and returns the errors of the others.
func writeAlteredQuotas(w io.Writer, res kadm.AlteredClientQuotas, validateOnly bool) error {
	var errs []error
	for _, r := range res {
		switch {
		case r.Err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", describeEntity(r.Entity), kafkaErr(r.Err, r.ErrMessage)))
		case validateOnly:
			fmt.Fprintf(w, "Validated updating config for %s.\n", describeEntity(r.Entity))
		default:
			fmt.Fprintf(w, "Completed updating config for %s.\n", describeEntity(r.Entity))
		}
	}
	return errors.Join(errs...)
}
