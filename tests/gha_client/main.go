// Command gha-client keeps tests/gha_emulator honest: it drives the emulator
// with a third-party client of the GitHub Actions cache service v2,
// github.com/tonistiigi/go-actions-cache (Twirp calls, then Azure's
// blockblob SDK for the bytes), and checks what comes back.
//
//	ACTIONS_RESULTS_URL=http://127.0.0.1:PORT ACTIONS_RUNTIME_TOKEN=JWT gha-client
//
// It saves a blob of 5 MiB and more (several Azure blocks, then Put Block
// List) and a tiny one (one Put Blob), loads each back through the
// restore-key prefix "gac-check-" (the newest entry wins), reads it whole and
// at ranges through the entry's ReaderAt, checks that saving the same key
// again fails (keys are immutable) and that an unknown key misses. Prints
// "ok" and exits 0, or says what differs and exits 1. GHA_CLIENT_VERBOSE=1
// logs the client's requests.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	actionscache "github.com/tonistiigi/go-actions-cache"
)

const prefix = "gac-check-"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gha-client: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("ok")
}

func run() error {
	url, token := os.Getenv("ACTIONS_RESULTS_URL"), os.Getenv("ACTIONS_RUNTIME_TOKEN")
	if url == "" || token == "" {
		return errors.New("set ACTIONS_RESULTS_URL and ACTIONS_RUNTIME_TOKEN")
	}
	if os.Getenv("GHA_CLIENT_VERBOSE") != "" {
		actionscache.Log = func(format string, args ...interface{}) { log.Printf(format, args...) }
	}
	// v2: the service that ACTIONS_CACHE_SERVICE_V2=true selects in TryEnv.
	cache, err := actionscache.New(token, url, true, actionscache.Opt{Timeout: time.Minute})
	if err != nil {
		return fmt.Errorf("the client refuses the token: %w", err)
	}
	if len(cache.Scopes()) == 0 {
		return errors.New("the token has no scopes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	run := randomHex(6)
	for _, size := range []int{5<<20 + 12345, 100} {
		key := fmt.Sprintf("%s%s-%d", prefix, run, size)
		data := randomBytes(size)
		if err := cache.Save(ctx, key, actionscache.NewBlob(data)); err != nil {
			return fmt.Errorf("saving %s (%d bytes): %w", key, size, err)
		}
		if err := loadAndCompare(ctx, cache, key, data); err != nil {
			return err
		}
		err := cache.Save(ctx, key, actionscache.NewBlob([]byte("other bytes")))
		if err == nil {
			return fmt.Errorf("saving %s a second time succeeded: keys must be immutable", key)
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("saving %s a second time failed, but not with already_exists: %v", key, err)
		}
	}
	if entry, err := cache.Load(ctx, "gac-missing-"+run); err != nil || entry != nil {
		return fmt.Errorf("loading an unknown key: want a miss, got entry %v, error %v", entry, err)
	}
	return nil
}

// loadAndCompare loads the newest entry under the prefix, which must be key,
// and compares its bytes with data: whole, and at ranges.
func loadAndCompare(ctx context.Context, cache *actionscache.Cache, key string, data []byte) error {
	entry, err := cache.Load(ctx, prefix)
	if err != nil {
		return fmt.Errorf("loading through the prefix %s: %w", prefix, err)
	}
	if entry == nil {
		return fmt.Errorf("loading through the prefix %s: a miss, want %s", prefix, key)
	}
	if entry.Key != key {
		return fmt.Errorf("loading through the prefix %s matched %s, want the newest entry %s", prefix, entry.Key, key)
	}
	var whole bytes.Buffer
	if err := entry.WriteTo(ctx, &whole); err != nil {
		return fmt.Errorf("downloading %s: %w", key, err)
	}
	if !bytes.Equal(whole.Bytes(), data) {
		return fmt.Errorf("downloading %s: got %d bytes that differ from the %d saved", key, whole.Len(), len(data))
	}

	reader := entry.Download(ctx)
	defer reader.Close()
	// A range in the middle, then one that ends at the end (a new request
	// each, since the offsets are not contiguous).
	ranges := [][2]int{{len(data) / 3, len(data) / 4}, {len(data) - len(data)/5, len(data) / 5}}
	for _, r := range ranges {
		off, n := r[0], r[1]
		got := make([]byte, n)
		read, err := reader.ReadAt(got, int64(off))
		if err != nil && !(errors.Is(err, io.EOF) && read == n) {
			return fmt.Errorf("reading %d bytes of %s at %d: %w", n, key, off, err)
		}
		if read != n || !bytes.Equal(got, data[off:off+n]) {
			return fmt.Errorf("reading %d bytes of %s at %d: got %d bytes, not the saved ones", n, key, off, read)
		}
	}
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }
