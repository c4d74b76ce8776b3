package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// SCRAM iterations the form accepts (Kafka's bounds) and its default.
const (
	minIterations     = 4096
	maxIterations     = 16384
	defaultIterations = 8192
)

// scramCred is one of a user's SCRAM credentials.
type scramCred struct {
	Mechanism  string
	Iterations int32
}

type userRow struct {
	User  string
	Creds []scramCred
	Err   string
}

type usersData struct {
	Users             []userRow
	Denied            string
	DefaultIterations int
}

// users lists the SCRAM users and their mechanisms and iterations
// (DescribeUserSCRAMCredentials; never a salt or a key). A principal
// without DESCRIBE on the cluster gets a plain "not authorized".
func (s *Server) users(ctx context.Context, _ *http.Request) (pageResult, error) {
	d := &usersData{DefaultIterations: defaultIterations}
	res := pageResult{page: "users", title: "Users", nav: "users", data: d}
	described, err := s.adm.DescribeUserSCRAMs(ctx)
	if d.Denied = securityUnavailable("describe the SCRAM users", err); d.Denied != "" {
		return res, nil
	}
	if err != nil {
		return pageResult{}, kafkaError("describing SCRAM users", err)
	}
	for _, u := range described.Sorted() {
		row := userRow{User: u.User}
		if u.Err != nil {
			row.Err = withMessage(u.Err, &u.ErrMessage).Error()
		}
		for _, c := range u.CredInfos {
			row.Creds = append(row.Creds, scramCred{Mechanism: c.Mechanism.String(), Iterations: c.Iterations})
		}
		d.Users = append(d.Users, row)
	}
	return res, nil
}

// parseUserForm reads the user name and mechanism of a users form.
func parseUserForm(r *http.Request) (string, kadm.ScramMechanism, error) {
	user := r.PostFormValue("user")
	if err := checkText("user", user, true); err != nil {
		return "", 0, err
	}
	if user != strings.TrimSpace(user) {
		return "", 0, badRequest("user must not begin or end with spaces")
	}
	switch m := r.PostFormValue("mechanism"); m {
	case "SCRAM-SHA-256":
		return user, kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return user, kadm.ScramSha512, nil
	default:
		return "", 0, badRequest("mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512, not %q", m)
	}
}

// setPassword creates or changes a user's SCRAM credential. kadm salts
// and hashes the password here: it never travels, and it is neither
// logged nor shown back (the page redirects with a message naming only
// the user and the mechanism).
func (s *Server) setPassword(ctx context.Context, r *http.Request) (string, string, error) {
	user, mech, err := parseUserForm(r)
	if err != nil {
		return "", "", err
	}
	iter := defaultIterations
	if v := strings.TrimSpace(r.PostFormValue("iterations")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minIterations || n > maxIterations {
			return "", "", badRequest("iterations must be from %d to %d", minIterations, maxIterations)
		}
		iter = n
	}
	pw := r.PostFormValue("password")
	switch {
	case pw == "":
		return "", "", badRequest("password is required")
	case len(pw) > maxFilterLen:
		return "", "", badRequest("password is longer than %d bytes", maxFilterLen)
	}
	altered, err := s.adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: mech, Iterations: int32(iter), Password: pw}})
	if err == nil {
		err = alteredErr(altered, user)
	}
	if err != nil {
		return "", "", scramChangeError("set the password of "+user, err)
	}
	return "/users", fmt.Sprintf("set the %s password of %s (%d iterations)", mech, user, iter), nil
}

// deleteCredential deletes one SCRAM credential of a user.
func (s *Server) deleteCredential(ctx context.Context, r *http.Request) (string, string, error) {
	user, mech, err := parseUserForm(r)
	if err != nil {
		return "", "", err
	}
	altered, err := s.adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: user, Mechanism: mech}}, nil)
	if err == nil {
		err = alteredErr(altered, user)
	}
	if err != nil {
		if errors.Is(err, kerr.ResourceNotFound) {
			return "", "", notFound(fmt.Sprintf("user %s has no %s credential", user, mech))
		}
		return "", "", scramChangeError("delete the credential of "+user, err)
	}
	return "/users", fmt.Sprintf("deleted the %s credential of %s", mech, user), nil
}

func alteredErr(altered kadm.AlteredUserSCRAMs, user string) error {
	a, ok := altered[user]
	if !ok {
		return fmt.Errorf("the broker did not answer for user %s", user)
	}
	return withMessage(a.Err, &a.ErrMessage)
}

func scramChangeError(what string, err error) error {
	if isAuthErr(err) {
		return forbidden(what, err)
	}
	return kafkaError(what, err)
}
