package report

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func day(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, time.UTC) }

func hexTokens(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%012x", prefix, i)
	}
	return out
}

// fixture is a small log with every kind of entry, in log order. The
// houston statement of November names 300 subjects, enough to change
// bands; the entry of January 2027 lies after the December period.
func fixture() []*record.Entry {
	const auth = "9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e9f2c4b1e0d3a5c7e"
	stmt := func(t time.Time, unit, decision string, rules, tokens []string, subjects uint64) *record.Entry {
		return &record.Entry{Kind: record.KindStatement, Time: t, Tenant: "agency", Unit: unit, Analyst: "a1b2c3d4",
			Class: "read", Datasets: []string{"public.persons"}, Decision: decision, Rules: rules,
			Rows: subjects, Subjects: subjects, SubjectTokens: tokens, Policy: "p1"}
	}
	return []*record.Entry{
		{Kind: record.KindPolicyPublished, Time: day(11, 1, 8), Tenant: "agency", Policy: "p1",
			Rules: []string{"AUP-1", "AUP-2", "AUP-10"}, Attrs: []record.Attr{{Key: "version", Value: "1"}}},
		{Kind: record.KindStorageAttestation, Time: day(11, 1, 9), Tenant: "agency", Attrs: []record.Attr{
			{Key: "bytes.public.case_files", Value: "2000"}, {Key: "bytes.public.persons", Value: "100000"},
			{Key: "rows.public.case_files", Value: "10"}, {Key: "rows.public.persons", Value: "1000"}}},
		stmt(day(11, 20, 10), "houston", "allow", nil, hexTokens("0000", 300), 300),
		stmt(day(11, 25, 10), "newark", "allow", nil, []string{"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"}, 2),
		{Kind: record.KindAuthorityIssued, Time: day(12, 1, 8), Tenant: "agency", Unit: "newark",
			AuthorityKind: "judicial_warrant", Authority: auth, Datasets: []string{"public.persons"}, Policy: "p1",
			Attrs: []record.Attr{{Key: "not_after", Value: "2027-01-01T00:00:00Z"}, {Key: "not_before", Value: "2026-12-01T00:00:00Z"}, {Key: "subjects", Value: "3"}}},
		{Kind: record.KindAuthorityIssued, Time: day(12, 1, 8), Tenant: "agency", Unit: "newark",
			AuthorityKind: "administrative", Authority: auth, Policy: "p1",
			Attrs: []record.Attr{{Key: "max_subjects", Value: "5"}}},
		stmt(day(12, 1, 10), "newark", "allow", nil, []string{"aaaaaaaaaaaaaaaa", "cccccccccccccccc"}, 2),
		stmt(day(12, 1, 11), "newark", "deny", []string{"AUP-3"}, nil, 37),
		stmt(day(12, 1, 12), "houston", "deny", []string{"AUP-10", "AUP-4"}, nil, 0),
		stmt(day(12, 2, 10), "houston", "allow", nil, []string{"dddddddddddddddd"}, 3),
		{Kind: record.KindLoginFailure, Time: day(12, 2, 11), Tenant: "agency", Unit: "newark", Analyst: "a1b2c3d4"},
		{Kind: record.KindSuspension, Time: day(12, 2, 12), Tenant: "agency", Unit: "houston",
			Attrs: []record.Attr{{Key: "reason", Value: "press report <mass surveillance>"}}},
		{Kind: record.KindResumption, Time: day(12, 3, 8), Tenant: "agency", Unit: "houston",
			Attrs: []record.Attr{{Key: "reason", Value: "reviewed by the inspector general"}}},
		{Kind: record.KindStorageAttestation, Time: day(12, 3, 9), Tenant: "agency", Attrs: []record.Attr{
			{Key: "bytes.bad", Value: "lots"}, {Key: "bytes.public.location_pings", Value: "50000"},
			{Key: "bytes.public.persons", Value: "300000"}, {Key: "note", Value: "hourly"},
			{Key: "rows.public.location_pings", Value: "500"}, {Key: "rows.public.persons", Value: "3000"}}},
		{Kind: record.KindAlert, Time: day(12, 3, 10), Tenant: "agency", Unit: "newark", Rules: []string{"AUP-6"}},
		{Kind: record.KindAuthorityRevoked, Time: day(12, 3, 11), Tenant: "agency", Unit: "newark",
			AuthorityKind: "judicial_warrant", Authority: auth},
		stmt(day(12, 3, 12), "newark", "allow", nil, []string{"bbbbbbbbbbbbbbbb", "t:not-hex"}, 2),
		stmt(time.Date(2027, 1, 10, 9, 0, 0, 0, time.UTC), "newark", "allow", nil, []string{"eeeeeeeeeeeeeeee"}, 1),
	}
}

// writeLog appends entries in order to a new real log in dir and returns
// its verifier key.
func writeLog(t testing.TB, dir string, entries []*record.Entry) string {
	t.Helper()
	ctx := context.Background()
	skey, vkey, err := translog.GenerateKey("test.custodes/agency")
	if err != nil {
		t.Fatal(err)
	}
	l, err := translog.Open(ctx, translog.Options{Dir: dir, SignerKey: skey, CheckpointInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return vkey
}

func fixtureLog(t *testing.T) (translog.Source, string, string) {
	t.Helper()
	dir := t.TempDir()
	vkey := writeLog(t, dir, fixture())
	src, err := translog.OpenSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	return src, vkey, dir
}

func compute(t *testing.T, src translog.Source, vkey string, opts Options) (*Report, []byte) {
	t.Helper()
	r, err := Compute(context.Background(), src, vkey, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return r, b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report differs from %s (go test ./report -update rewrites it):\n%s", path, got)
	}
}

var december = Options{From: day(12, 1, 0), To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}

func TestGolden(t *testing.T) {
	src, vkey, _ := fixtureLog(t)
	_, all := compute(t, src, vkey, Options{})
	golden(t, "all.json", all)
	_, dec := compute(t, src, vkey, december)
	golden(t, "december.json", dec)
}

func TestDeterministic(t *testing.T) {
	src, vkey, dir := fixtureLog(t)
	_, a := compute(t, src, vkey, december)
	_, b := compute(t, src, vkey, december)
	if !bytes.Equal(a, b) {
		t.Fatalf("two computes differ:\n%s\n%s", a, b)
	}
	// The console serves the same log over HTTP: the same report.
	srv := httptest.NewServer(translog.Handler(dir))
	defer srv.Close()
	hsrc, err := translog.OpenSource(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if _, c := compute(t, hsrc, vkey, december); !bytes.Equal(a, c) {
		t.Fatalf("the report over HTTP differs:\n%s\n%s", a, c)
	}
}

func TestNumbers(t *testing.T) {
	src, vkey, _ := fixtureLog(t)
	all, _ := compute(t, src, vkey, Options{})
	dec, _ := compute(t, src, vkey, december)
	entries := uint64(len(fixture()))

	if all.Checkpoint.Size != entries || all.Checkpoint.Origin != "test.custodes/agency" || len(all.Checkpoint.Root) != 64 {
		t.Errorf("checkpoint = %+v", all.Checkpoint)
	}
	if dec.Checkpoint != all.Checkpoint {
		t.Errorf("the period changed the checkpoint: %+v, %+v", dec.Checkpoint, all.Checkpoint)
	}
	if all.Entries.Total != entries || dec.Entries.Total != entries-5 {
		t.Errorf("entries: all %d, december %d", all.Entries.Total, dec.Entries.Total)
	}
	s := dec.Statements
	if s.Total != 5 || s.Allowed != 3 || s.Denied != 2 || s.IncompleteTokens != 1 {
		t.Errorf("december statements = %+v", s)
	}
	want := []RuleCount{{"AUP-3", 1}, {"AUP-4", 1}, {"AUP-10", 1}}
	if fmt.Sprint(s.DenialsByRule) != fmt.Sprint(want) {
		t.Errorf("denials by rule = %v, want %v", s.DenialsByRule, want)
	}
	if all.Statements.Allowed != 6 {
		t.Errorf("all allowed = %d, want 6", all.Statements.Allowed)
	}

	bands := func(r *Report) map[string]string {
		m := map[string]string{}
		for _, x := range r.Subjects {
			m[scopeName(x.Tenant, x.Unit)] = x.Distinct.String() + " peak " + x.Peak.String()
		}
		return m
	}
	// The 300 houston subjects of November count in the whole log, not in
	// December, but within December's first windows.
	wantAll := map[string]string{"agency": "250–499 peak 250–499", "agency/houston": "250–499 peak 250–499", "agency/newark": "1–249 peak 1–249"}
	wantDec := map[string]string{"agency": "1–249 peak 250–499", "agency/houston": "1–249 peak 250–499", "agency/newark": "1–249 peak 1–249"}
	if got := bands(all); fmt.Sprint(got) != fmt.Sprint(wantAll) {
		t.Errorf("all subjects = %v, want %v", got, wantAll)
	}
	if got := bands(dec); fmt.Sprint(got) != fmt.Sprint(wantDec) {
		t.Errorf("december subjects = %v, want %v", got, wantDec)
	}

	wantDays := []string{"2026-12-01", "2026-12-02", "2026-12-03"}
	if fmt.Sprint(dec.Coverage.Days) != fmt.Sprint(wantDays) {
		t.Errorf("december coverage days = %v, want %v", dec.Coverage.Days, wantDays)
	}
	// In the whole log, houston's window has emptied by 2027-01-10.
	for _, x := range all.Coverage.Series {
		if x.Unit == "houston" {
			if last := x.Subjects[len(x.Subjects)-1]; last != (Band{}) {
				t.Errorf("houston on %s = %v, want 0", all.Coverage.Days[len(all.Coverage.Days)-1], last)
			}
		}
	}

	a := map[string]string{}
	for _, x := range dec.Authorities {
		a[x.Kind] = x.Issued.String() + "/" + x.Revoked.String()
	}
	wantA := map[string]string{"judicial_warrant": "1–249/1–249", "court_order": "0/0", "subpoena": "0/0", "administrative": "1–249/0"}
	if fmt.Sprint(a) != fmt.Sprint(wantA) {
		t.Errorf("authorities = %v, want %v", a, wantA)
	}

	if dec.Suspensions.Suspensions != 1 || dec.Suspensions.Resumptions != 1 || len(dec.Suspensions.Events) != 2 ||
		dec.Suspensions.Events[0].Reason != "press report <mass surveillance>" {
		t.Errorf("suspensions = %+v", dec.Suspensions)
	}
	if dec.LoginFailures != 1 || dec.Alerts.Total != 1 || dec.Policies.Published != 0 || all.Policies.Published != 1 {
		t.Errorf("logins %d, alerts %d, policies %d/%d", dec.LoginFailures, dec.Alerts.Total, dec.Policies.Published, all.Policies.Published)
	}

	st := all.Storage[0]
	if st.First.Bytes != 102000 || st.Last.Bytes != 352000 || *st.GrowthBytes != 3.451 || st.First.Date != "2026-11-01" {
		t.Errorf("all storage = %+v", st)
	}
	// December's only attestation still sees November's case_files.
	if ds := dec.Storage[0]; ds.First.Bytes != 352000 || *ds.GrowthBytes != 1 || len(ds.Datasets) != 3 {
		t.Errorf("december storage = %+v", ds)
	}
}

func TestTampered(t *testing.T) {
	src, vkey, dir := fixtureLog(t)
	bundle := filepath.Join(dir, "tile", "entries", "000.p", fmt.Sprint(len(fixture())))
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 1
	if err := os.WriteFile(bundle, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Compute(context.Background(), src, vkey, Options{})
	var ve *translog.VerifyError
	if !errors.As(err, &ve) || r != nil {
		t.Fatalf("Compute on a tampered log = %v, %v; want a *translog.VerifyError", r, err)
	}
}

func TestNotAnEntry(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	skey, vkey, _ := translog.GenerateKey("test.custodes/agency")
	l, err := translog.Open(ctx, translog.Options{Dir: dir, SignerKey: skey, CheckpointInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	src, _ := translog.OpenSource(dir)
	if _, err := Compute(ctx, src, vkey, Options{}); err == nil || !strings.Contains(err.Error(), "not a valid custodes entry") {
		t.Fatalf("Compute over a non-entry: %v", err)
	}
}

func TestBadPeriod(t *testing.T) {
	src, vkey, _ := fixtureLog(t)
	if _, err := Compute(context.Background(), src, vkey, Options{From: day(12, 2, 0), To: day(12, 1, 0)}); err == nil {
		t.Fatal("a period that ends before it begins was accepted")
	}
}

func TestBand(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 1: "1–249", 249: "1–249", 250: "250–499", 499: "250–499", 500: "500–749",
		1<<64 - 1: "18446744073709551500–18446744073709551615"} {
		if got := band(n).String(); got != want {
			t.Errorf("band(%d) = %s, want %s", n, got, want)
		}
	}
}

// TestCoverageExact checks the unbanded values: the rolling window, late
// entries, pre-period sightings and the gap reset.
func TestCoverageExact(t *testing.T) {
	c := newCoverage(day(12, 1, 0), time.Time{})
	u := scopeKey{"agency", "newark"}
	see := func(t time.Time, tok uint64) {
		c.advance(dayOf(t))
		c.sight(u, tok, dayOf(t), !t.Before(day(12, 1, 0)))
	}
	see(day(11, 1, 0), 9)  // before the first window of the period: ignored
	see(day(11, 2, 0), 1)  // in the window of 12-01 (11-02 .. 12-01)
	see(day(12, 1, 0), 2)  // 12-01: {1,2}
	see(day(12, 2, 0), 2)  // 12-02: window 11-03..12-02: {2}
	see(day(12, 1, 23), 3) // timed before the clock, but 12-02 is still open: {2,3}
	see(day(12, 3, 0), 4)  // 12-03: {2,3,4}
	see(day(12, 3, 0), 1)  // {1,2,3,4}
	see(day(12, 1, 5), 5)  // late: 12-01 and 12-02 are fixed; counts from 12-03 on
	c.advance(dayOf(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)))
	cov, subj := c.finish()
	s := c.scopes[u]
	if got, want := fmt.Sprint(cov.Days, s.series), "[2026-12-01 2026-12-02 2026-12-03 2027-03-01] [2 2 5 0]"; got != want {
		t.Errorf("coverage = %s, want %s", got, want)
	}
	if s.distinct != 5 || s.peak != 5 || subj[0].Distinct != band(5) {
		t.Errorf("distinct %d, peak %d", s.distinct, s.peak)
	}
}

func TestRuleOrder(t *testing.T) {
	got := ruleCounts(map[string]uint64{"AUP-10": 1, "AUP-2": 1, "AUP-9x": 1, "AUP-1": 1, "X": 1, "AUP-": 1})
	var ids []string
	for _, c := range got {
		ids = append(ids, c.Rule)
	}
	if want := "AUP-1 AUP-2 AUP-10 AUP- AUP-9x X"; strings.Join(ids, " ") != want {
		t.Errorf("order = %v, want %s", ids, want)
	}
}

func TestTextAndHTML(t *testing.T) {
	src, vkey, _ := fixtureLog(t)
	r, _ := compute(t, src, vkey, december)
	var text bytes.Buffer
	if err := r.Text(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Statements: 5, 3 allowed, 2 denied", "AUP-10", "judicial_warrant  1–249", `"press report <mass surveillance>"`} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	var h bytes.Buffer
	if err := r.HTML(&h); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!doctype html>", "press report &lt;mass surveillance&gt;", "<td>AUP-10</td>", r.Checkpoint.Root} {
		if !strings.Contains(h.String(), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, bad := range []string{"<mass", "<script", "http://", "https://"} {
		if strings.Contains(h.String(), bad) {
			t.Errorf("HTML holds %q", bad)
		}
	}
}
