package handlers

// DescribeUserScramCredentials (key 50), version 0.
//
// Lists each user's SCRAM mechanisms and iterations (never salts or
// keys). No users named (null or empty list) lists every user with a
// credential. Needs DESCRIBE on the cluster (else a top-level
// CLUSTER_AUTHORIZATION_FAILED); a user named twice gets
// DUPLICATE_RESOURCE, a user without credentials RESOURCE_NOT_FOUND.

import (
	"context"
	"maps"
	"slices"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) describeUserScram(_ context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := kmsg.NewPtrDescribeUserSCRAMCredentialsResponse()
	if !h.authorizeCluster(req, metadata.ACLOpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(req, resp)
	}
	byUser := credentialsByUser(h.d.Image().ScramCredentials())
	names := requestedUsers(r, byUser)
	count := map[string]int{}
	for _, n := range names {
		count[n]++
	}
	for _, n := range names {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = n
		switch {
		case count[n] > 1:
			res.ErrorCode = kerr.DuplicateResource.Code
		case len(byUser[n]) == 0:
			msg := "Attempt to describe a user credential that does not exist"
			res.ErrorCode, res.ErrorMessage = kerr.ResourceNotFound.Code, &msg
		default:
			res.CredentialInfos = byUser[n]
		}
		resp.Results = append(resp.Results, res)
	}
	return respond(req, resp)
}

// requestedUsers returns the users asked about, or every user when none.
func requestedUsers(r *kmsg.DescribeUserSCRAMCredentialsRequest, byUser map[string][]kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo) []string {
	if len(r.Users) == 0 {
		return slices.Sorted(maps.Keys(byUser))
	}
	names := make([]string, len(r.Users))
	for i, u := range r.Users {
		names[i] = u.Name
	}
	return names
}

// credentialsByUser groups credentials by user, mechanisms in order.
func credentialsByUser(creds map[metadata.ScramKey]metadata.ScramCredential) map[string][]kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo {
	out := map[string][]kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo{}
	for _, k := range slices.SortedFunc(maps.Keys(creds), func(a, b metadata.ScramKey) int { return int(a.Mechanism) - int(b.Mechanism) }) {
		info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
		info.Mechanism, info.Iterations = k.Mechanism, creds[k].Iterations
		out[k.User] = append(out[k.User], info)
	}
	return out
}
