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
	"go.etcd.io/etcd/pkg/transport"
)

// callTimeout bounds one call; a call failing while a member restarts is retried by the client.
const callTimeout = 20 * time.Second

func main() {
	endpoints := flag.String("endpoints", "", "comma-separated client URLs")
	cacert := flag.String("cacert", "", "CA certificate")
	cert := flag.String("cert", "", "client certificate")
	key := flag.String("key", "", "client key")
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
	default:
		fail("unknown scenario %q", flag.Arg(0))
	}
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
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
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
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		check(err, "stm transfer")
	}
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

func check(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "clientv3: "+format+"\n", args...)
	os.Exit(1)
}
