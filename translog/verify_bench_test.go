package translog

import (
	"context"
	"sync"
	"testing"
)

// BenchmarkVerify re-reads and re-hashes a 4096-entry log from its
// directory, as `custodes verify` does (without parsing the entries: that
// is record's BenchmarkParse); entries/s is the throughput.
func BenchmarkVerify(b *testing.B) {
	const n = 4096
	skey, vkey := testKey(b)
	dir := b.TempDir()
	l, err := Open(context.Background(), Options{Dir: dir, SignerKey: skey})
	if err != nil {
		b.Fatal(err)
	}
	entry := make([]byte, 400)
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := w; i < n; i += 64 {
				if _, err := l.Append(context.Background(), entry); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	src, err := OpenSource(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := Verify(context.Background(), src, vkey, VerifyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Entries != n {
			b.Fatalf("verified %d entries of %d", res.Entries, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
