package auth

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
)

// TestAuthorizeConcurrent has many goroutines deciding while another
// swaps the current ACL set among more sets than the cache holds; every
// answer must be the one of the set the caller passed. Run with -race.
func TestAuthorizeConcurrent(t *testing.T) {
	sets := make([]*metadata.ACLs, 5)
	want := map[*metadata.ACLs]bool{}
	for i := range sets {
		acls := filler(200)
		perm := allowP
		if i%2 == 1 {
			perm = denyP
		}
		acls = append(acls, topicACL(prefix, "ord", alice, opRead, perm))
		sets[i] = aclSet(acls...)
		want[sets[i]] = perm == allowP
	}
	var current atomic.Pointer[metadata.ACLs]
	current.Store(sets[0])
	a := New(nil, false)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				current.Store(sets[i%len(sets)])
			}
		}
	}()
	var readers sync.WaitGroup
	for g := 0; g < 16; g++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for range 500 {
				s := current.Load()
				if got := a.Authorize(s, read); got != want[s] {
					t.Errorf("Authorize = %v, want %v", got, want[s])
					return
				}
			}
		}()
	}
	readers.Wait()
	close(stop)
	wg.Wait()
}

// filler returns n ACLs on other topics and groups, a mix of literal and
// prefixed patterns, principals and operations.
func filler(n int) []metadata.ACL {
	acls := make([]metadata.ACL, 0, n)
	ops := []int8{opRead, opWrite, opDesc, opAll}
	for i := range n {
		pattern, rt := literal, topic
		if i%3 == 0 {
			pattern = prefix
		}
		if i%5 == 0 {
			rt = group
		}
		perm := allowP
		if i%7 == 0 {
			perm = denyP
		}
		acl := topicACL(pattern, fmt.Sprintf("t%d.p%d", i%97, i), fmt.Sprintf("User:u%d", i%50), ops[i%len(ops)], perm)
		acls = append(acls, withType(acl, rt))
	}
	return acls
}

func BenchmarkAuthorize(b *testing.B) {
	acls := filler(10000 - 4)
	acls = append(acls,
		topicACL(literal, "t1.p1", alice, opRead, allowP),
		topicACL(prefix, "t2.", alice, opWrite, allowP),
		topicACL(literal, "*", "User:*", opDesc, allowP),
		topicACL(prefix, "t3", alice, opAll, denyP))
	set := aclSet(acls...)
	reqs := make([]Request, 64)
	for i := range reqs {
		reqs[i] = Request{Principal: alice, Host: "10.0.0.1", Op: []int8{opRead, opWrite, opDesc}[i%3],
			ResourceType: topic, Name: fmt.Sprintf("t%d.p%d", i%5, i)}
	}
	a := New([]string{"User:admin"}, false)
	a.Authorize(set, reqs[0])
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		a.Authorize(set, reqs[i%len(reqs)])
	}
}
