package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclTimeout bounds every admin request made by `fjord acl`.
var aclTimeout time.Duration

func init() {
	rootCmd.AddCommand(newACLCmd())
}

// newACLCmd returns `fjord acl` with its subcommands. kafka-acls' flag
// names --allow-principal and --deny-principal are accepted for --allow
// and --deny.
func newACLCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Add, remove and list ACLs (like kafka-acls)",
		Long: "Add, remove and list ACLs with the Kafka protocol's CreateAcls, DeleteAcls\n" +
			"and DescribeAcls. A principal is TYPE:NAME (User:alice); a bare name means\n" +
			"User:NAME. Output is kafka-acls'.",
	}
	cmd.PersistentFlags().DurationVar(&aclTimeout, "timeout", 30*time.Second, "deadline for the admin requests")
	cmd.AddCommand(newACLAddCmd(), newACLRemoveCmd(), newACLListCmd())
	cmd.SetGlobalNormalizationFunc(aclFlagAliases)
	return cmd
}

// aclFlagAliases maps kafka-acls' principal flag names to ours.
func aclFlagAliases(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	switch name {
	case "allow-principal":
		return "allow"
	case "deny-principal":
		return "deny"
	}
	return pflag.NormalizedName(name)
}

// aclMode is the subcommand the flags are for.
type aclMode int

const (
	aclAdd aclMode = iota
	aclRemove
	aclList
)

// aclFlags are the raw flags of `fjord acl add|remove|list`.
type aclFlags struct {
	allow, deny           []string
	allowHosts, denyHosts []string
	operations            []string
	topics, groups, txns  []string
	cluster               bool
	prefixed              bool
	patternType           string
	principals            []string // list: show only these principals' ACLs
	force                 bool     // remove: accepted for kafka-acls scripts; nothing prompts
}

// addACLFlags registers the flags of mode on f.
func addACLFlags(f *pflag.FlagSet, o *aclFlags, mode aclMode) {
	f.StringArrayVar(&o.topics, "topic", nil, "topic name (repeatable; * means every topic)")
	f.StringArrayVar(&o.groups, "group", nil, "consumer group id (repeatable; * means every group)")
	f.StringArrayVar(&o.txns, "transactional-id", nil, "transactional id (repeatable; * means every one)")
	f.BoolVar(&o.cluster, "cluster", false, "the cluster resource (kafka-cluster)")
	f.BoolVar(&o.prefixed, "prefixed", false, "resource names are prefixes (pattern type PREFIXED)")
	patterns := "literal (default) or prefixed"
	if mode != aclAdd {
		patterns = "literal (default), prefixed, any (every pattern type, the exact name) or match (every ACL that applies to the name)"
	}
	f.StringVar(&o.patternType, "resource-pattern-type", "", "resource pattern type: "+patterns)
	if mode == aclList {
		f.StringArrayVar(&o.principals, "principal", nil, "list only the ACLs of this principal (repeatable)")
		return
	}
	f.StringArrayVar(&o.allow, "allow", nil, "principal to allow, TYPE:NAME or NAME for User:NAME (repeatable)")
	f.StringArrayVar(&o.deny, "deny", nil, "principal to deny (repeatable)")
	f.StringArrayVar(&o.allowHosts, "allow-host", nil, "host the allowed principals connect from (repeatable; default *)")
	f.StringArrayVar(&o.denyHosts, "deny-host", nil, "host the denied principals connect from (repeatable; default *)")
	opDefault := "default All"
	if mode == aclRemove {
		opDefault += "; without --allow or --deny: any"
		f.BoolVar(&o.force, "force", false, "accepted for kafka-acls compatibility (remove never prompts)")
	}
	f.StringArrayVar(&o.operations, "operation", nil,
		"operations, comma-separated and repeatable: Read, Write, Create, Delete, Alter, Describe, ClusterAction,\n"+
			"DescribeConfigs, AlterConfigs, IdempotentWrite or All ("+opDefault+")")
}

func newACLAddCmd() *cobra.Command {
	var o aclFlags
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add ACLs: every principal x host x operation x resource given",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := parseACLSpec(o, aclAdd)
			if err != nil {
				return err
			}
			return withAdminFor(cmd, aclTimeout, func(ctx context.Context, adm *kadm.Client) error {
				return runACLAdd(ctx, adm, cmd.OutOrStdout(), spec)
			})
		},
	}
	addACLFlags(cmd.Flags(), &o, aclAdd)
	return cmd
}

func runACLAdd(ctx context.Context, adm *kadm.Client, w io.Writer, spec aclSpec) error {
	res, err := adm.CreateACLs(ctx, spec.builder())
	if err != nil {
		return err
	}
	if err := writeAddedACLs(w, res); err != nil {
		return err
	}
	return listCurrentACLs(ctx, adm, w, spec)
}

func newACLRemoveCmd() *cobra.Command {
	var o aclFlags
	cmd := &cobra.Command{
		Use:   "remove",
		Short: "Remove the ACLs of the resources given (only those of the principals, hosts and operations given, if any)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := parseACLSpec(o, aclRemove)
			if err != nil {
				return err
			}
			return withAdminFor(cmd, aclTimeout, func(ctx context.Context, adm *kadm.Client) error {
				return runACLRemove(ctx, adm, cmd.OutOrStdout(), spec)
			})
		},
	}
	addACLFlags(cmd.Flags(), &o, aclRemove)
	return cmd
}

func runACLRemove(ctx context.Context, adm *kadm.Client, w io.Writer, spec aclSpec) error {
	res, err := adm.DeleteACLs(ctx, spec.builder())
	if err != nil {
		return err
	}
	if err := writeRemovedACLs(w, res); err != nil {
		return err
	}
	return listCurrentACLs(ctx, adm, w, spec)
}

func newACLListCmd() *cobra.Command {
	var o aclFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List ACLs: all of them, or those of the resources given",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := parseACLSpec(o, aclList)
			if err != nil {
				return err
			}
			return withAdminFor(cmd, aclTimeout, func(ctx context.Context, adm *kadm.Client) error {
				return listCurrentACLs(ctx, adm, cmd.OutOrStdout(), spec)
			})
		},
	}
	addACLFlags(cmd.Flags(), &o, aclList)
	return cmd
}

// listCurrentACLs prints the ACLs of spec's resources (every ACL if it
// names none), as kafka-acls does after each of its actions.
func listCurrentACLs(ctx context.Context, adm *kadm.Client, w io.Writer, spec aclSpec) error {
	res, err := adm.DescribeACLs(ctx, spec.listBuilder())
	if err != nil {
		return err
	}
	return writeCurrentACLs(w, res, spec.principals)
}

// ---- flags to a request ----

// aclSpec is a validated ACL command: the resources, the pattern type and,
// for add and remove, the entries (principals x hosts x operations).
type aclSpec struct {
	mode                 aclMode
	topics, groups, txns []string
	cluster              bool
	pattern              kadm.ACLPattern
	allow, deny          []string
	allowHosts           []string
	denyHosts            []string
	ops                  []kadm.ACLOperation // empty: any operation (a remove filter)
	principals           []string            // list: show only these
}

// parseACLSpec validates the flags of mode.
func parseACLSpec(o aclFlags, mode aclMode) (aclSpec, error) {
	s := aclSpec{mode: mode, topics: o.topics, groups: o.groups, txns: o.txns, cluster: o.cluster}
	var err error
	if s.pattern, err = parsePatternType(o, mode); err != nil {
		return aclSpec{}, err
	}
	if err := s.checkResources(); err != nil {
		return aclSpec{}, err
	}
	if s.principals, err = parsePrincipals(o.principals); err != nil {
		return aclSpec{}, err
	}
	if mode == aclList {
		return s, nil
	}
	if err := s.parseEntries(o); err != nil {
		return aclSpec{}, err
	}
	return s, nil
}

// hasResource reports whether any resource flag was given.
func (s aclSpec) hasResource() bool {
	return len(s.topics)+len(s.groups)+len(s.txns) > 0 || s.cluster
}

func (s aclSpec) checkResources() error {
	if s.mode != aclList && !s.hasResource() {
		return errors.New("give at least one resource: --topic, --group, --transactional-id or --cluster")
	}
	if s.cluster && s.pattern == kadm.ACLPatternPrefixed {
		return errors.New("--cluster takes only the literal pattern type")
	}
	for _, names := range [][]string{s.topics, s.groups, s.txns} {
		if slices.Contains(names, "") {
			return errors.New("a resource name is empty")
		}
	}
	return nil
}

// parseEntries reads the principals, hosts and operations of add and
// remove.
func (s *aclSpec) parseEntries(o aclFlags) error {
	var err error
	if s.allow, err = parsePrincipals(o.allow); err != nil {
		return err
	}
	if s.deny, err = parsePrincipals(o.deny); err != nil {
		return err
	}
	if s.allowHosts, err = entryHosts(o.allowHosts, s.allow, "allow"); err != nil {
		return err
	}
	if s.denyHosts, err = entryHosts(o.denyHosts, s.deny, "deny"); err != nil {
		return err
	}
	if s.ops, err = parseOperations(o.operations); err != nil {
		return err
	}
	return s.defaultOperations()
}

// defaultOperations applies kafka-acls' default operation, All, except to
// a remove without principals, which removes every ACL of its resources;
// and checks that add has principals and that the operations apply to the
// resources.
func (s *aclSpec) defaultOperations() error {
	entries := len(s.allow)+len(s.deny) > 0
	switch {
	case s.mode == aclAdd && !entries:
		return errors.New("give at least one principal: --allow or --deny")
	case len(s.ops) == 0 && entries:
		s.ops = []kadm.ACLOperation{kadm.OpAll}
	}
	return s.checkOperations()
}

// parsePatternType reads --resource-pattern-type and --prefixed.
func parsePatternType(o aclFlags, mode aclMode) (kadm.ACLPattern, error) {
	p := kadm.ACLPatternLiteral
	if o.patternType != "" {
		var err error
		if p, err = kmsg.ParseACLResourcePatternType(o.patternType); err != nil {
			return 0, fmt.Errorf("invalid --resource-pattern-type %q: want literal, prefixed, any or match", o.patternType)
		}
	}
	if o.prefixed {
		if o.patternType != "" && p != kadm.ACLPatternPrefixed {
			return 0, fmt.Errorf("--prefixed conflicts with --resource-pattern-type %s", o.patternType)
		}
		p = kadm.ACLPatternPrefixed
	}
	if mode == aclAdd && p != kadm.ACLPatternLiteral && p != kadm.ACLPatternPrefixed {
		return 0, fmt.Errorf("--resource-pattern-type %s is not valid when adding ACLs: want literal or prefixed", o.patternType)
	}
	return p, nil
}

// parsePrincipals normalizes principals: a bare name means User:NAME.
func parsePrincipals(vals []string) ([]string, error) {
	var out []string
	for _, v := range vals {
		v = strings.TrimSpace(v)
		typ, name, ok := strings.Cut(v, ":")
		switch {
		case !ok:
			typ, name = "User", v
		case typ == "" || name == "":
			return nil, fmt.Errorf("invalid principal %q: want TYPE:NAME, e.g. User:alice", v)
		}
		if name == "" {
			return nil, errors.New("a principal is empty")
		}
		if p := typ + ":" + name; !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// entryHosts returns the hosts of --allow-host or --deny-host: * by
// default when there are principals; none without.
func entryHosts(hosts, principals []string, kind string) ([]string, error) {
	if len(principals) == 0 {
		if len(hosts) > 0 {
			return nil, fmt.Errorf("--%s-host needs --%s principals", kind, kind)
		}
		return nil, nil
	}
	var out []string
	for _, h := range hosts {
		if h = strings.TrimSpace(h); h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		out = []string{"*"}
	}
	return out, nil
}

// parseOperations reads comma-separated operation names in any case and
// spelling kmsg accepts (Read, DESCRIBE_CONFIGS, DescribeConfigs, ...).
func parseOperations(vals []string) ([]kadm.ACLOperation, error) {
	var ops []kadm.ACLOperation
	for _, v := range vals {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name == "" {
				continue
			}
			op, err := kmsg.ParseACLOperation(name)
			if err != nil || op == kadm.OpAny {
				return nil, fmt.Errorf("invalid --operation %q: want one of %s", name, validOperationNames())
			}
			if !slices.Contains(ops, op) {
				ops = append(ops, op)
			}
		}
	}
	return ops, nil
}

// validOperationNames lists the operations an ACL may name.
func validOperationNames() string {
	names := slices.DeleteFunc(kmsg.ACLOperationStrings(), func(s string) bool { return s == kadm.OpAny.String() })
	return strings.Join(names, ", ")
}

// aclResourceOperations are the operations an ACL on each resource type may
// name besides ALL, as kafka-acls checks them.
var aclResourceOperations = map[kmsg.ACLResourceType][]kadm.ACLOperation{
	kmsg.ACLResourceTypeTopic: {kadm.OpRead, kadm.OpWrite, kadm.OpCreate, kadm.OpDescribe, kadm.OpDelete,
		kadm.OpAlter, kadm.OpDescribeConfigs, kadm.OpAlterConfigs},
	kmsg.ACLResourceTypeGroup: {kadm.OpRead, kadm.OpDescribe, kadm.OpDelete},
	kmsg.ACLResourceTypeCluster: {kadm.OpCreate, kadm.OpClusterAction, kadm.OpDescribeConfigs, kadm.OpAlterConfigs,
		kadm.OpIdempotentWrite, kadm.OpAlter, kadm.OpDescribe},
	kmsg.ACLResourceTypeTransactionalId: {kadm.OpDescribe, kadm.OpWrite},
}

// resourceTypes returns the resource types spec names.
func (s aclSpec) resourceTypes() []kmsg.ACLResourceType {
	var types []kmsg.ACLResourceType
	for _, t := range []struct {
		typ   kmsg.ACLResourceType
		given bool
	}{
		{kmsg.ACLResourceTypeTopic, len(s.topics) > 0},
		{kmsg.ACLResourceTypeGroup, len(s.groups) > 0},
		{kmsg.ACLResourceTypeCluster, s.cluster},
		{kmsg.ACLResourceTypeTransactionalId, len(s.txns) > 0},
	} {
		if t.given {
			types = append(types, t.typ)
		}
	}
	return types
}

// checkOperations rejects an operation that does not apply to one of the
// resource types given.
func (s aclSpec) checkOperations() error {
	for _, typ := range s.resourceTypes() {
		valid := aclResourceOperations[typ]
		for _, op := range s.ops {
			if op != kadm.OpAll && !slices.Contains(valid, op) {
				return fmt.Errorf("operation %s does not apply to %s resources: want ALL or one of %v", op, typ, valid)
			}
		}
	}
	return nil
}

// builder returns the kadm request of add (creations) or remove (a filter).
func (s aclSpec) builder() *kadm.ACLBuilder {
	b := s.resources(kadm.NewACLs()).ResourcePatternType(s.pattern)
	if s.mode == aclRemove && len(s.allow)+len(s.deny) == 0 {
		return b.Allow().AllowHosts().Deny().DenyHosts().Operations(s.ops...)
	}
	return b.MaybeAllow(s.allow...).MaybeAllowHosts(s.allowHosts...).
		MaybeDeny(s.deny...).MaybeDenyHosts(s.denyHosts...).Operations(s.ops...)
}

// listBuilder returns the describe filter of spec's resources: every ACL
// of them, or every ACL at all if spec names none.
func (s aclSpec) listBuilder() *kadm.ACLBuilder {
	b := kadm.NewACLs().Allow().AllowHosts().Deny().DenyHosts().Operations()
	if !s.hasResource() {
		return b.AnyResource().ResourcePatternType(kadm.ACLPatternAny)
	}
	return s.resources(b).ResourcePatternType(s.pattern)
}

func (s aclSpec) resources(b *kadm.ACLBuilder) *kadm.ACLBuilder {
	return b.MaybeTopics(s.topics...).MaybeGroups(s.groups...).
		MaybeTransactionalIDs(s.txns...).MaybeClusters(s.cluster)
}
