package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/fjordlog/fjord/internal/sasl"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// userTimeout bounds every admin request made by `fjord user`.
var userTimeout time.Duration

func init() {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create, delete and list SCRAM users (like kafka-configs --entity-type users)",
		Long: "Create, delete and list the SCRAM-SHA-256 and SCRAM-SHA-512 credentials of\n" +
			"users, with the Kafka protocol's AlterUserScramCredentials and\n" +
			"DescribeUserScramCredentials. The password is salted and hashed here;\n" +
			"it never goes to the broker.",
	}
	cmd.PersistentFlags().DurationVar(&userTimeout, "timeout", 30*time.Second, "deadline for the admin requests")
	cmd.AddCommand(newUserCreateCmd(), newUserDeleteCmd(), newUserListCmd())
	rootCmd.AddCommand(cmd)
}

// parseMechanism maps a SCRAM mechanism name (any case) to kadm's value.
func parseMechanism(s string) (kadm.ScramMechanism, error) {
	for _, m := range []kadm.ScramMechanism{kadm.ScramSha256, kadm.ScramSha512} {
		if strings.EqualFold(strings.TrimSpace(s), m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("invalid mechanism %q: want %s or %s", s, kadm.ScramSha256, kadm.ScramSha512)
}

// ---- create ----

type userCreateOpts struct {
	mechanism     string
	iterations    int32
	password      string
	passwordStdin bool
}

func newUserCreateCmd() *cobra.Command {
	var o userCreateOpts
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user's SCRAM credential, or replace its password",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := userUpsert(args[0], o, cmd.InOrStdin())
			if err != nil {
				return err
			}
			return withAdminFor(cmd, userTimeout, func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{u})
				if err != nil {
					return err
				}
				return writeAlteredUsers(cmd.OutOrStdout(), []string{u.User}, res)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.mechanism, "mechanism", kadm.ScramSha512.String(), "SCRAM mechanism: SCRAM-SHA-256 or SCRAM-SHA-512")
	f.Int32Var(&o.iterations, "iterations", sasl.MinIterations,
		fmt.Sprintf("SCRAM iterations (%d to %d)", sasl.MinIterations, sasl.MaxIterations))
	f.StringVar(&o.password, "password", "", "the password (visible to other local users: prefer --password-stdin)")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

// userUpsert validates the create flags and returns the credential to
// store, reading the password from stdin with --password-stdin.
func userUpsert(name string, o userCreateOpts, stdin io.Reader) (kadm.UpsertSCRAM, error) {
	mech, err := parseMechanism(o.mechanism)
	if err != nil {
		return kadm.UpsertSCRAM{}, fmt.Errorf("--mechanism: %w", err)
	}
	if o.iterations < sasl.MinIterations || o.iterations > sasl.MaxIterations {
		return kadm.UpsertSCRAM{}, fmt.Errorf("--iterations %d: want %d to %d", o.iterations, sasl.MinIterations, sasl.MaxIterations)
	}
	if strings.TrimSpace(name) == "" {
		return kadm.UpsertSCRAM{}, errors.New("the user name is empty")
	}
	pass, err := userPassword(o, stdin)
	if err != nil {
		return kadm.UpsertSCRAM{}, err
	}
	return kadm.UpsertSCRAM{User: name, Mechanism: mech, Iterations: o.iterations, Password: pass}, nil
}

// userPassword returns the password of --password or --password-stdin
// (exactly one must be given).
func userPassword(o userCreateOpts, stdin io.Reader) (string, error) {
	switch {
	case o.passwordStdin && o.password != "":
		return "", errors.New("give --password or --password-stdin, not both")
	case o.passwordStdin:
		return readPasswordLine(stdin)
	case o.password != "":
		return o.password, nil
	}
	return "", errors.New("no password: give --password-stdin (or --password)")
}

// readPasswordLine returns the first line of r without its line ending.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on stdin (its first line is empty)")
	}
	return line, nil
}

// writeAlteredUsers prints, as kafka-configs does, a line for each user
// whose credentials were changed and returns an error listing the others.
func writeAlteredUsers(w io.Writer, users []string, res kadm.AlteredUserSCRAMs) error {
	var errs []error
	for _, u := range users {
		r, ok := res[u]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("user '%s': missing from the AlterUserScramCredentials response", u))
		case r.Err != nil:
			errs = append(errs, fmt.Errorf("user '%s': %w", u, kafkaErr(r.Err, r.ErrMessage)))
		default:
			fmt.Fprintf(w, "Completed updating config for user %s.\n", u)
		}
	}
	return errors.Join(errs...)
}

// ---- delete ----

func newUserDeleteCmd() *cobra.Command {
	var mechanism string
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user's SCRAM credentials (by default every mechanism it has)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdminFor(cmd, userTimeout, func(ctx context.Context, adm *kadm.Client) error {
				return runUserDelete(ctx, adm, cmd.OutOrStdout(), args[0], mechanism)
			})
		},
	}
	cmd.Flags().StringVar(&mechanism, "mechanism", "", "delete only this mechanism's credential (SCRAM-SHA-256 or SCRAM-SHA-512)")
	return cmd
}

func runUserDelete(ctx context.Context, adm *kadm.Client, w io.Writer, user, mechanism string) error {
	mechs, err := deleteMechanisms(ctx, adm, user, mechanism)
	if err != nil {
		return err
	}
	dels := make([]kadm.DeleteSCRAM, 0, len(mechs))
	for _, m := range mechs {
		dels = append(dels, kadm.DeleteSCRAM{User: user, Mechanism: m})
	}
	res, err := adm.AlterUserSCRAMs(ctx, dels, nil)
	if err != nil {
		return err
	}
	return writeAlteredUsers(w, []string{user}, res)
}

// deleteMechanisms returns the mechanism of --mechanism, or else every
// mechanism the user has a credential for.
func deleteMechanisms(ctx context.Context, adm *kadm.Client, user, mechanism string) ([]kadm.ScramMechanism, error) {
	if mechanism != "" {
		m, err := parseMechanism(mechanism)
		if err != nil {
			return nil, fmt.Errorf("--mechanism: %w", err)
		}
		return []kadm.ScramMechanism{m}, nil
	}
	described, err := adm.DescribeUserSCRAMs(ctx, user)
	if err != nil {
		return nil, err
	}
	d, ok := described[user]
	switch {
	case !ok || len(d.CredInfos) == 0 && d.Err == nil:
		return nil, fmt.Errorf("user '%s' has no SCRAM credentials", user)
	case d.Err != nil:
		return nil, fmt.Errorf("user '%s': %w", user, kafkaErr(d.Err, d.ErrMessage))
	}
	var mechs []kadm.ScramMechanism
	for _, c := range d.CredInfos {
		mechs = append(mechs, c.Mechanism)
	}
	return mechs, nil
}

// ---- list ----

func newUserListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list [NAME...]",
		Short: "List users with SCRAM credentials: their mechanisms and iterations",
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdminFor(cmd, userTimeout, func(ctx context.Context, adm *kadm.Client) error {
				described, err := adm.DescribeUserSCRAMs(ctx, args...)
				if err != nil {
					return err
				}
				return writeUserList(cmd.OutOrStdout(), described)
			})
		},
	}
}

// writeUserList prints one line per user, sorted, as kafka-configs
// --describe --entity-type users does, and returns an error listing the
// users that could not be described (for instance, not found).
func writeUserList(w io.Writer, described kadm.DescribedUserSCRAMs) error {
	var errs []error
	for _, d := range described.Sorted() {
		if d.Err != nil {
			errs = append(errs, fmt.Errorf("retrieving SCRAM credential configs for user-principal '%s': %w",
				d.User, kafkaErr(d.Err, d.ErrMessage)))
			continue
		}
		infos := slices.Clone(d.CredInfos)
		slices.SortFunc(infos, func(a, b kadm.CredInfo) int { return int(a.Mechanism) - int(b.Mechanism) })
		creds := make([]string, len(infos))
		for i, c := range infos {
			creds[i] = c.String()
		}
		fmt.Fprintf(w, "SCRAM credential configs for user-principal '%s' are %s\n", d.User, strings.Join(creds, ", "))
	}
	return errors.Join(errs...)
}
