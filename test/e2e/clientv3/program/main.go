// A program on etcd's Go client (clientv3, GOPATH mode against Debian's golang-etcd-server-dev) that
// test/e2e/clientv3/clientv3.test.ts runs against real Coffer members. Each scenario checks what it
// names itself and exits non-zero with one line on stderr when it does not hold; on success it prints
// one line "ok <scenario> ..." with what it measured. Lines the test waits on ("watching", "progress")
// go to stdout as they happen; the test answers on stdin.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	"go.etcd.io/etcd/pkg/transport"
)

// callTimeout bounds one call; a call failing while a member restarts is retried by the client.
const callTimeout = 20 * time.Second

func main() {
	endpoints := flag.String("endpoints", "", "comma-separated client URLs")
	cacert := flag.String("cacert", "", "CA certificate")
	cert := flag.String("cert", "", "client certificate")
	key := flag.String("key", "", "client key")
	otherCert := flag.String("other-cert", "", "certificate of a user granted nothing (etcd-errors)")
	otherKey := flag.String("other-key", "", "its key")
	flag.Parse()
	tlsInfo := transport.TLSInfo{TrustedCAFile: *cacert, CertFile: *cert, KeyFile: *key}
	tlsConfig, err := tlsInfo.ClientConfig()
	check(err, "tls")
	client, err := newClient(strings.Split(*endpoints, ","), tlsConfig)
	check(err, "connect")
	defer client.Close()
	switch flag.Arg(0) {
	case "stm":
		stm(client)
	case "watch-resume":
		watchResume(client)
	case "lock":
		lock(client)
	case "elect":
		elect(client)
	case "nested":
		nested(client)
	case "range-compare":
		rangeCompare(client)
	case "progress":
		progress(client)
	case "etcd-errors":
		other, err := newClient(strings.Split(*endpoints, ","), otherTLS(*cacert, *otherCert, *otherKey))
		check(err, "connect as the other user")
		defer other.Close()
		etcdErrors(client, other)
	case "compacted-watch":
		compactedWatch(client)
	default:
		fail("unknown scenario %q", flag.Arg(0))
	}
}

func otherTLS(cacert, cert, key string) *tls.Config {
	tlsInfo := transport.TLSInfo{TrustedCAFile: cacert, CertFile: cert, KeyFile: key}
	tlsConfig, err := tlsInfo.ClientConfig()
	check(err, "tls of the other user")
	return tlsConfig
}

func newClient(endpoints []string, tlsConfig *tls.Config) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: endpoints, TLS: tlsConfig, DialTimeout: callTimeout})
}

// stm: concurrent transfers between accounts in software transactional memory (serializable by
// default): every transfer commits once and the total is conserved.
func stm(client *clientv3.Client) {
	const accounts, workers, transfers, initial = 5, 4, 8, 100
	ctx := context.Background()
	for i := 0; i < accounts; i++ {
		_, err := client.Put(ctx, account(i), strconv.Itoa(initial))
		check(err, "put account")
	}
	check(parallel(workers, func(w int) error {
		for t := 0; t < transfers; t++ {
			from, to := (w+t)%accounts, (w+2*t+1)%accounts
			if from == to {
				to = (to + 1) % accounts
			}
			_, err := concurrency.NewSTM(client, func(s concurrency.STM) error {
				a, _ := strconv.Atoi(s.Get(account(from)))
				b, _ := strconv.Atoi(s.Get(account(to)))
				s.Put(account(from), strconv.Itoa(a-1))
				s.Put(account(to), strconv.Itoa(b+1))
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}), "stm transfer")
	resp, err := client.Get(ctx, "stm/accounts/", clientv3.WithPrefix())
	check(err, "get accounts")
	total := 0
	for _, kv := range resp.Kvs {
		n, _ := strconv.Atoi(string(kv.Value))
		total += n
	}
	if total != accounts*initial || len(resp.Kvs) != accounts {
		fail("stm: %d accounts hold %d, want %d accounts holding %d", len(resp.Kvs), total, accounts, accounts*initial)
	}
	fmt.Printf("ok stm transfers=%d total=%d\n", workers*transfers, total)
}

// lock: two contenders, each with its own session (a lease kept alive), increment one counter under a
// concurrency.Mutex by a read and a separate write — only mutual exclusion keeps every increment — while
// the test kills and restarts a member when told "progress". The count must be exact.
func lock(client *clientv3.Client) {
	const contenders, rounds = 2, 12
	ctx := context.Background()
	_, err := client.Put(ctx, "lock/counter", "0")
	check(err, "put counter")
	check(parallel(contenders, func(c int) error {
		session, err := concurrency.NewSession(client, concurrency.WithTTL(sessionTTLSeconds))
		if err != nil {
			return err
		}
		defer session.Close()
		mutex := concurrency.NewMutex(session, "lock/mutex/")
		for r := 0; r < rounds; r++ {
			if err := increment(client, mutex, c, r); err != nil {
				return fmt.Errorf("contender %d round %d: %w", c, r, err)
			}
			if c == 0 && r == rounds/3 {
				fmt.Println("progress")
			}
		}
		return nil
	}), "lock")
	resp, err := client.Get(ctx, "lock/counter")
	check(err, "get counter")
	if total := strings.Fields(string(resp.Kvs[0].Value))[0]; total != strconv.Itoa(contenders*rounds) {
		fail("lock: the counter is %s after %d increments under the lock", total, contenders*rounds)
	}
	fmt.Printf("ok lock increments=%d\n", contenders*rounds)
}

// sessionTTLSeconds is the contenders' lease TTL: long enough to outlast a leader change on a loaded
// machine (etcd's default is 60 s), short enough that a lost lease would show within the run.
const sessionTTLSeconds = 15

// increment adds one to the counter under the lock. The counter's value names the last increment
// ("<n> <contender> <round>"), so a write whose answer was lost while a member died is found on retry
// instead of being applied twice; a step that failed without writing is simply tried again.
func increment(client *clientv3.Client, mutex *concurrency.Mutex, contender, round int) error {
	deadline := time.Now().Add(6 * callTimeout)
	for {
		err := tryIncrement(client, mutex, contender, round)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

func tryIncrement(client *clientv3.Client, mutex *concurrency.Mutex, contender, round int) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := mutex.Lock(ctx); err != nil {
		return err
	}
	defer mutex.Unlock(context.Background())
	resp, err := client.Get(ctx, "lock/counter")
	if err != nil {
		return err
	}
	fields := strings.Fields(string(resp.Kvs[0].Value))
	mine := fmt.Sprintf("%d %d", contender, round)
	if len(fields) == 3 && fields[1]+" "+fields[2] == mine {
		return nil // the earlier attempt's write took effect
	}
	n, _ := strconv.Atoi(fields[0])
	// Only the holder may write: the put is guarded by the lock key's revision, as etcd's recipes do.
	txn, err := client.Txn(ctx).If(mutex.IsOwner()).Then(clientv3.OpPut("lock/counter", fmt.Sprintf("%d %s", n+1, mine))).Commit()
	if err != nil {
		return err
	}
	if !txn.Succeeded {
		return fmt.Errorf("the lock was lost before the write")
	}
	return nil
}

// elect: two candidates campaign; the first leads, an observer sees it; it resigns and the second leads.
func elect(client *clientv3.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*callTimeout)
	defer cancel()
	sessions := make([]*concurrency.Session, 2)
	for i := range sessions {
		s, err := concurrency.NewSession(client, concurrency.WithTTL(sessionTTLSeconds))
		check(err, "session")
		defer s.Close()
		sessions[i] = s
	}
	first := concurrency.NewElection(sessions[0], "elect/")
	second := concurrency.NewElection(sessions[1], "elect/")
	check(first.Campaign(ctx, "first"), "first campaign")
	observed := concurrency.NewElection(sessions[0], "elect/").Observe(ctx)
	expectLeader(observed, "first")
	won := make(chan error, 1)
	go func() { won <- second.Campaign(ctx, "second") }()
	leader, err := first.Leader(ctx)
	check(err, "leader")
	if string(leader.Kvs[0].Value) != "first" {
		fail("elect: the leader is %s while the first still holds office", leader.Kvs[0].Value)
	}
	check(first.Proclaim(ctx, "first, proclaimed"), "proclaim")
	expectLeader(observed, "first, proclaimed")
	check(first.Resign(ctx), "resign")
	check(<-won, "second campaign")
	expectLeader(observed, "second")
	fmt.Println("ok elect leaders=first,second")
}

// nested: a transaction holding transactions (clientv3.OpTxn, etcd 3.3+). Each level takes the branch its
// own compares choose against the state before the transaction, a read inside sees the writes before it,
// every write is at the one revision of the whole; a key written twice on one path is refused with etcd's
// error.
func nested(client *clientv3.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err := client.Put(ctx, "nested/flag", "on")
	check(err, "put flag")
	inner := clientv3.OpTxn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision("nested/a"), ">", 0)},
		[]clientv3.Op{clientv3.OpPut("nested/never", "x")},
		[]clientv3.Op{clientv3.OpGet("nested/a"), clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpPut("nested/b", "2")}, nil)},
	)
	resp, err := client.Txn(ctx).If(clientv3.Compare(clientv3.Value("nested/flag"), "=", "on")).
		Then(clientv3.OpPut("nested/a", "1"), inner).Else(clientv3.OpPut("nested/else", "x")).Commit()
	check(err, "nested txn")
	revision := resp.Header.Revision
	middle := resp.Responses[1].GetResponseTxn()
	if !resp.Succeeded || middle == nil || middle.Succeeded {
		fail("nested: the outer transaction succeeded=%v, the middle one %v; want true, then false (it saw no nested/a before the transaction)", resp.Succeeded, middle)
	}
	read := middle.Responses[0].GetResponseRange()
	if len(read.Kvs) != 1 || string(read.Kvs[0].Value) != "1" || read.Kvs[0].ModRevision != revision {
		fail("nested: the read inside saw %v, want nested/a=1 at revision %d", read.Kvs, revision)
	}
	if innermost := middle.Responses[1].GetResponseTxn(); innermost == nil || !innermost.Succeeded {
		fail("nested: the innermost transaction answered %v", innermost)
	}
	all, err := client.Get(ctx, "nested/", clientv3.WithPrefix())
	check(err, "get nested/")
	var written []string
	for _, kv := range all.Kvs {
		if kv.ModRevision == revision {
			written = append(written, string(kv.Key))
		}
	}
	if strings.Join(written, ",") != "nested/a,nested/b" || all.Count != 3 {
		fail("nested: keys written at revision %d: %v of %d keys, want nested/a,nested/b of 3", revision, written, all.Count)
	}
	_, err = client.Txn(ctx).Then(clientv3.OpPut("nested/a", "x"), clientv3.OpTxn(nil, nil, []clientv3.Op{clientv3.OpPut("nested/a", "y")})).Commit()
	if err != rpctypes.ErrDuplicateKey {
		fail("nested: a key put at two levels of one path answered %v, want %v", err, rpctypes.ErrDuplicateKey)
	}
	fmt.Println("ok nested paths=true,false,true revision=one duplicate=refused")
}

// rangeCompare: compares over a key range (Cmp.WithPrefix, etcd 3.3+). A compare holds when every key in
// the range satisfies it; over no key, a number compares as a missing key's 0 and a value compare fails.
func rangeCompare(client *clientv3.Client) {
	ctx := context.Background()
	for _, key := range []string{"cmp/a", "cmp/b"} {
		_, err := client.Put(ctx, key, "v")
		check(err, "put "+key)
	}
	holds := func(cmp clientv3.Cmp) bool {
		resp, err := client.Txn(ctx).If(cmp).Commit()
		check(err, "txn")
		return resp.Succeeded
	}
	every := holds(clientv3.Compare(clientv3.Value("cmp/"), "=", "v").WithPrefix())
	_, err := client.Put(ctx, "cmp/c", "w")
	check(err, "put cmp/c")
	notEvery := holds(clientv3.Compare(clientv3.Value("cmp/"), "=", "v").WithPrefix())
	noneCreated := holds(clientv3.Compare(clientv3.CreateRevision("none/"), "=", 0).WithPrefix())
	noneValue := holds(clientv3.Compare(clientv3.Value("none/"), "=", "").WithPrefix())
	if !every || notEvery || !noneCreated || noneValue {
		fail("rangeCompare: every key %v, one key off %v, no key by revision %v, no key by value %v; want true, false, true, false", every, notEvery, noneCreated, noneValue)
	}
	fmt.Println("ok range-compare every=true,false none=true,false")
}

// progress: progress requests (Watcher.RequestProgress), many at once, on a stream of two watches reach
// each watch as a progress notification, never ahead of its events: one at or past the revision of the
// watch's own put comes after that put's event. Coffer answers a stream whose watches have all caught up
// as etcd 3.4.24+ does, with one response (watch_id -1) that clientv3 hands to every watch of the stream.
func progress(client *clientv3.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys := []string{"progress/a", "progress/b"}
	watches := make([]clientv3.WatchChan, len(keys))
	for i, key := range keys {
		watches[i] = client.Watch(ctx, key, clientv3.WithCreatedNotify())
		if resp := <-watches[i]; !resp.Created {
			fail("progress: watch of %s: first response not created: %+v", key, resp)
		}
	}
	revisions := make([]int64, len(keys))
	for i, key := range keys {
		resp, err := client.Put(ctx, key, "v")
		check(err, "put "+key)
		revisions[i] = resp.Header.Revision
	}
	// A progress notification carries the revision of the member serving the watch, which may not have
	// applied the puts another member answered yet: one below a put's revision is asked again.
	requests := 100
	for i := 0; i < requests; i++ {
		check(client.RequestProgress(ctx), "request progress")
	}
	notifies := 0
	for i, watch := range watches {
		seen := false
		timeout := time.After(3 * callTimeout)
		for done := false; !done; {
			select {
			case resp, open := <-watch:
				if !open {
					fail("progress: the watch of %s closed", keys[i])
				}
				check(resp.Err(), "watch "+keys[i])
				for _, ev := range resp.Events {
					seen = seen || ev.Kv.ModRevision == revisions[i]
				}
				if resp.IsProgressNotify() {
					notifies++
					if resp.Header.Revision >= revisions[i] {
						if !seen {
							fail("progress: the watch of %s had a progress notification at %d before its event at %d", keys[i], resp.Header.Revision, revisions[i])
						}
						done = true
					} else {
						check(client.RequestProgress(ctx), "request progress")
						requests++
					}
				}
			case <-timeout:
				fail("progress: the watch of %s had no progress notification at or past %d within %s", keys[i], revisions[i], 3*callTimeout)
			}
		}
	}
	if notifies > len(keys)*requests {
		fail("progress: %d progress notifications for %d requests on %d watches", notifies, requests, len(keys))
	}
	fmt.Println("ok progress notified=every-watch after=events")
}

func expectLeader(observed <-chan clientv3.GetResponse, want string) {
	select {
	case resp := <-observed:
		if got := string(resp.Kvs[0].Value); got != want {
			fail("elect: observed leader %q, want %q", got, want)
		}
	case <-time.After(3 * callTimeout):
		fail("elect: no leader %q observed", want)
	}
}

func account(i int) string {
	return fmt.Sprintf("stm/accounts/%d", i)
}

// watch-resume: a watch on a prefix keeps delivering, in order and without a gap or a repeat, while the
// test restarts the members one by one under it; a writer puts keys until the test says "done" on stdin.
// The events seen are then compared with a replay of the same history from the same start revision.
func watchResume(client *clientv3.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start, err := client.Get(ctx, "watch/")
	check(err, "get")
	from := start.Header.Revision + 1
	live := client.Watch(ctx, "watch/", clientv3.WithPrefix(), clientv3.WithRev(from))
	fmt.Println("watching")
	done := make(chan struct{})
	go func() {
		bufio.NewScanner(os.Stdin).Scan()
		close(done)
	}()
	writes := 0
	var lastWrite int64
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		default:
		}
		lastWrite = putRetrying(client, fmt.Sprintf("watch/%06d", writes), strconv.Itoa(writes))
		writes++
		if writes%10 == 0 {
			fmt.Printf("progress %d\n", writes)
		}
	}
	// Coffer's own records advance the store's revision too: wait for the last write's, not the store's.
	seen := collect(live, lastWrite, "live watch")
	replay := collect(client.Watch(ctx, "watch/", clientv3.WithPrefix(), clientv3.WithRev(from)), lastWrite, "replay")
	if len(seen) != len(replay) {
		fail("watch-resume: the live watch saw %d events, the replay %d", len(seen), len(replay))
	}
	for i := range seen {
		if seen[i] != replay[i] {
			fail("watch-resume: event %d differs: live %s, replay %s", i, seen[i], replay[i])
		}
	}
	if len(seen) < writes {
		fail("watch-resume: %d events for %d writes", len(seen), writes)
	}
	fmt.Printf("ok watch-resume writes=%d events=%d\n", writes, len(seen))
}

// putRetrying retries a put the client could not complete (a member restarting under it), and returns
// the revision of the put that succeeded.
func putRetrying(client *clientv3.Client, key, value string) int64 {
	deadline := time.Now().Add(3 * callTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		resp, err := client.Put(ctx, key, value)
		cancel()
		if err == nil {
			return resp.Header.Revision
		}
		if time.Now().After(deadline) {
			check(err, "put "+key)
		}
	}
}

// collect reads events until one at `until` or later, checking revisions strictly increase.
func collect(watch clientv3.WatchChan, until int64, what string) []string {
	var events []string
	var previous int64
	timeout := time.After(3 * callTimeout)
	for previous < until {
		select {
		case resp, open := <-watch:
			if !open {
				fail("%s: the watch channel closed at revision %d", what, previous)
			}
			check(resp.Err(), what)
			for _, ev := range resp.Events {
				if ev.Kv.ModRevision <= previous {
					fail("%s: revision %d after %d (a repeat or out of order)", what, ev.Kv.ModRevision, previous)
				}
				previous = ev.Kv.ModRevision
				events = append(events, fmt.Sprintf("%s %s=%s@%d", ev.Type, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision))
			}
		case <-timeout:
			fail("%s: no event at revision %d within %s (last %d)", what, until, 3*callTimeout, previous)
		}
	}
	return events
}

// parallel runs work(0..n-1) concurrently and returns the first error any of them returned.
func parallel(n int, work func(i int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := work(i); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func check(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "clientv3: "+format+"\n", args...)
	os.Exit(1)
}

// etcd-errors: each condition etcd's clients know by its error (rpctypes) is answered with that error,
// as clientv3 hands it on (it matches the status's description exactly); a lease ID no member can hold
// is answered as an unknown lease (TTL -1), not refused.
func etcdErrors(client, other *clientv3.Client) {
	ctx := context.Background()
	put, err := client.Put(ctx, "errors/k", "v")
	check(err, "put")
	_, err = client.Put(ctx, "errors/k", "w")
	check(err, "put again")
	_, err = client.Compact(ctx, put.Header.Revision)
	check(err, "compact")
	many := make([]clientv3.Op, 129)
	for i := range many {
		many[i] = clientv3.OpGet(fmt.Sprintf("errors/%d", i))
	}
	cases := []struct {
		name string
		want error
		call func() error
	}{
		{"empty key", rpctypes.ErrEmptyKey, func() error { _, err := client.Put(ctx, "", "v"); return err }},
		{"compacted", rpctypes.ErrCompacted, func() error { _, err := client.Get(ctx, "errors/k", clientv3.WithRev(put.Header.Revision-1)); return err }},
		{"future revision", rpctypes.ErrFutureRev, func() error { _, err := client.Get(ctx, "errors/k", clientv3.WithRev(put.Header.Revision+1000)); return err }},
		{"key not found", rpctypes.ErrKeyNotFound, func() error { _, err := client.Put(ctx, "errors/missing", "", clientv3.WithIgnoreValue()); return err }},
		{"value provided", rpctypes.ErrValueProvided, func() error { _, err := client.Put(ctx, "errors/k", "x", clientv3.WithIgnoreValue()); return err }},
		{"lease provided", rpctypes.ErrLeaseProvided, func() error { _, err := client.Put(ctx, "errors/k", "x", clientv3.WithIgnoreLease(), clientv3.WithLease(5)); return err }},
		{"duplicate key", rpctypes.ErrDuplicateKey, func() error { _, err := client.Txn(ctx).Then(clientv3.OpPut("errors/d", "1"), clientv3.OpPut("errors/d", "2")).Commit(); return err }},
		{"too many ops", rpctypes.ErrTooManyOps, func() error { _, err := client.Txn(ctx).Then(many...).Commit(); return err }},
		{"lease not found", rpctypes.ErrLeaseNotFound, func() error { _, err := client.Revoke(ctx, 0x1234567); return err }},
		{"lease not found (no member holds so large an ID)", rpctypes.ErrLeaseNotFound, func() error { _, err := client.Revoke(ctx, 0x7fffffffffffffff); return err }},
		{"member not found", rpctypes.ErrMemberNotFound, func() error { _, err := client.MemberRemove(ctx, 0x1234567); return err }},
		{"member not found (no member holds so large an ID)", rpctypes.ErrMemberNotFound, func() error { _, err := client.MemberRemove(ctx, 0x7fffffffffffffff); return err }},
		{"bad leader transferee", rpctypes.ErrBadLeaderTransferee, func() error { _, err := client.MoveLeader(ctx, 0x1234567); return err }},
		{"permission denied (the gate)", rpctypes.ErrPermissionDenied, func() error { _, err := other.Get(ctx, "errors/k"); return err }},
	}
	for _, c := range cases {
		if err := c.call(); err != c.want {
			fail("%s: got %v (%T), want %v", c.name, err, err, c.want)
		}
	}
	ttl, err := client.TimeToLive(ctx, 0x7fffffffffffffff)
	check(err, "time-to-live of a lease no member holds")
	if ttl.TTL != -1 || ttl.ID != 0x7fffffffffffffff {
		fail("time-to-live of a lease no member holds: TTL %d ID %x, want -1 and the ID asked", ttl.TTL, ttl.ID)
	}
	fmt.Printf("ok etcd-errors cases=%d\n", len(cases))
}

// compacted-watch: a watch from a compacted revision is created, then canceled with the revision the
// store was compacted to (clientv3's CompactRevision, which etcdctl make-mirror resumes from).
func compactedWatch(client *clientv3.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	first, err := client.Put(ctx, "compacted-watch/k", "1")
	check(err, "put")
	second, err := client.Put(ctx, "compacted-watch/k", "2")
	check(err, "put again")
	_, err = client.Compact(ctx, second.Header.Revision)
	check(err, "compact")
	for response := range client.Watch(ctx, "compacted-watch/k", clientv3.WithRev(first.Header.Revision)) {
		if response.CompactRevision != second.Header.Revision || !response.Canceled || response.Err() != rpctypes.ErrCompacted {
			fail("watch from a compacted revision: compact revision %d canceled %v err %v, want %d, true, %v", response.CompactRevision, response.Canceled, response.Err(), second.Header.Revision, rpctypes.ErrCompacted)
		}
		fmt.Println("ok compacted-watch compact_revision=the-compacted-revision")
		return
	}
	fail("the watch ended without a response")
}
