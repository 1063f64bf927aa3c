package console_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/custodes/custodes/cli"
	"github.com/custodes/custodes/console"
	"github.com/custodes/custodes/internal/teststack"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/report"
	"github.com/custodes/custodes/translog"
)

// TestPublicReport: the public page and /api/report show the numbers the
// log gives, /api/report byte for byte what `custodes report --format json`
// prints for the same checkpoint and period, and the page carries no
// inline script.
func TestPublicReport(t *testing.T) {
	t.Parallel()
	st := teststack.Start(t, 2500)
	n := workload(t, st)
	want := settled(t, st, n)
	c := &http.Client{Timeout: 30 * time.Second}

	today := time.Now().UTC().Format(time.DateOnly)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	for _, tc := range []struct {
		query string
		flags []string
	}{
		{"", nil},
		{"?from=" + today + "&to=" + tomorrow, []string{"--from", today, "--to", tomorrow}},
		{"?from=2000-01-01&to=2000-01-02", []string{"--from", "2000-01-01", "--to", "2000-01-02"}},
	} {
		// The log may grow between the two reads (the storage sampler):
		// compare once the console answered the same before and after.
		for try := 0; ; try++ {
			_, before := get(t, c, base(st)+"/api/report"+tc.query)
			var out, errb bytes.Buffer
			args := append([]string{"report", "--log", base(st) + "/log/", "--key", st.VKey, "--format", "json", "-q"}, tc.flags...)
			if code := cli.Main(args, &out, &errb); code != 0 {
				t.Fatalf("custodes report: exit %d: %s", code, errb.String())
			}
			_, after := get(t, c, base(st)+"/api/report"+tc.query)
			if before != after && try < 5 {
				continue
			}
			if out.String() != after {
				t.Fatalf("/api/report%s differs from custodes report --format json:\n%s\nvs\n%s", tc.query, after, out.String())
			}
			break
		}
	}

	resp, body := get(t, c, base(st)+"/api/report")
	var got report.Report
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Statements.Total != want.Statements.Total || got.Statements.Denied != want.Statements.Denied || got.Statements.Denied < 2 {
		t.Errorf("/api/report statements %+v, want %+v", got.Statements, want.Statements)
	}
	if etag := resp.Header.Get("ETag"); etag == "" {
		t.Error("/api/report has no ETag")
	} else {
		req, _ := http.NewRequest("GET", base(st)+"/api/report", nil)
		req.Header.Set("If-None-Match", etag)
		if r2, err := c.Do(req); err != nil || r2.StatusCode != http.StatusNotModified {
			t.Errorf("/api/report with its own ETag: %v %v, want 304", r2.Status, err)
		}
	}

	resp, raw := get(t, c, base(st)+"/")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /: %s\n%s", resp.Status, raw)
	}
	page := html.UnescapeString(raw)
	wantContains(t, "the public page", page,
		fmt.Sprintf(`id="stat-total">%d<`, got.Statements.Total),
		fmt.Sprintf(`id="stat-denied">%d<`, got.Statements.Denied),
		fmt.Sprintf(`id="stat-allowed">%d<`, got.Statements.Allowed),
		`<tr data-rule="AUP-7"><td>AUP-7</td><td>export or side channel</td><td class="n">1</td></tr>`,
		`<tr data-rule="AUP-5">`,
		"custodes verify --log "+base(st)+"/log/ --key "+st.VKey,
		"custodes report --log "+base(st)+"/log/ --key "+st.VKey+" --format json",
		got.Checkpoint.Root,
		`<script src="/assets/chart.umd.min.js"`,
		`id="chart-statements"`, `id="chart-denials"`, `id="chart-coverage"`)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
		"Referrer-Policy": "same-origin", "Cross-Origin-Opener-Policy": "same-origin"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	// Every script is a file from /assets/, or a JSON data block.
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(raw, -1) {
		if !strings.Contains(tag, `src="/assets/`) && !strings.Contains(tag, `type="application/json"`) {
			t.Errorf("inline script on the public page: %s", tag)
		}
	}
	if strings.Contains(raw, " style=") || strings.Contains(raw, "<style") {
		t.Error("inline style on the public page")
	}

	for path, ctype := range map[string]string{"/assets/chart.umd.min.js": "text/javascript", "/assets/charts.js": "text/javascript", "/assets/style.css": "text/css"} {
		resp, body := get(t, c, base(st)+path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Errorf("GET %s: %s %s, %d bytes", path, resp.Status, resp.Header.Get("Content-Type"), len(body))
		}
	}
	for _, path := range []string{"/assets/README", "/assets/", "/?from=yesterday", "/api/report?to=2000-01-01&from=2001-01-01"} {
		if resp, _ := get(t, c, base(st)+path); resp.StatusCode != 404 && resp.StatusCode != 400 {
			t.Errorf("GET %s: %s, want 404 or 400", path, resp.Status)
		}
	}
	// The log itself is still served for verifiers.
	if resp, body := get(t, c, base(st)+"/log/checkpoint"); resp.StatusCode != 200 || !strings.HasPrefix(body, teststack.Origin+"\n") {
		t.Errorf("GET /log/checkpoint: %s %q", resp.Status, body)
	}
}

// TestLogBrowser: the browser lists entries' public fields and shows one
// entry's inclusion proof, whose bundle verifies with the log's key.
func TestLogBrowser(t *testing.T) {
	t.Parallel()
	st := teststack.Start(t, 2500)
	alice := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
	_, err := run(alice, "COPY persons TO STDOUT")
	idx := wantDenied(t, err, "AUP-7")
	settled(t, st, 1)
	c := &http.Client{Timeout: 30 * time.Second}

	resp, page := get(t, c, base(st)+"/log/browse")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /log/browse: %s\n%s", resp.Status, page)
	}
	wantContains(t, "the log browser", page,
		fmt.Sprintf(`<tr data-index="%d" class="statement deny">`, idx),
		fmt.Sprintf(`<a href="/log/browse/%d">%d</a>`, idx, idx),
		"authority_issued", "policy_published", "AUP-7")
	if strings.Contains(page, "COPY persons") {
		t.Error("the log browser shows SQL text: it is sealed, not public")
	}

	resp, page = get(t, c, fmt.Sprintf("%s/log/browse/%d", base(st), idx))
	if resp.StatusCode != 200 {
		t.Fatalf("GET entry: %s\n%s", resp.Status, page)
	}
	page = html.UnescapeString(page)

	resp, bundle := get(t, c, fmt.Sprintf("%s/log/browse/%d/bundle", base(st), idx))
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), fmt.Sprintf("entry-%d.tlog-proof", idx)) {
		t.Fatalf("GET bundle: %s %v", resp.Status, resp.Header)
	}
	b, err := translog.ParseBundle([]byte(bundle))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(st.VKey); err != nil {
		t.Fatalf("the console's bundle does not verify: %v", err)
	}
	e, err := record.Parse(b.Entry)
	if err != nil || b.Index != uint64(idx) || e.Decision != "deny" || e.Rules[0] != "AUP-7" {
		t.Fatalf("bundle of entry %d holds entry %d: %+v %v", idx, b.Index, e, err)
	}
	wantContains(t, "the entry page", page, `id="proof-ok"`, `<dd id="decision">deny</dd>`,
		`<dd id="rules">`+strings.Join(e.Rules, ", ")+`</dd>`, "custodes verify --bundle entry-",
		fmt.Sprintf("custodes prove --log %s/log/ --index %d", base(st), idx), " --key "+st.VKey)
	for _, h := range b.Proof {
		wantContains(t, "the entry page", page, base64.StdEncoding.EncodeToString(h))
	}

	for _, path := range []string{"/log/browse/100000", "/log/browse/x", "/log/browse/-1/bundle"} {
		if resp, _ := get(t, c, base(st)+path); resp.StatusCode != 404 {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
	if resp, page := get(t, c, base(st)+"/log/browse?before=2"); resp.StatusCode != 200 || strings.Count(page, "<tr data-index=") != 2 {
		t.Errorf("?before=2: %s, %d rows, want 2", resp.Status, strings.Count(page, "<tr data-index="))
	}
}

// TestOperatorConsole: the login form takes the token and sets a strict
// session cookie; a wrong token gets 401 and no detail; every form needs
// the session's CSRF token; suspending from the form is on the record;
// the JSON API takes the bearer token and never the cookie.
func TestOperatorConsole(t *testing.T) {
	t.Parallel()
	st := teststack.Start(t, 2500)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Timeout: 30 * time.Second, Jar: jar, CheckRedirect: noRedirect}
	ops := base(st) + "/ops/"

	resp, page := get(t, c, ops)
	if resp.StatusCode != 200 || !strings.Contains(page, `<form method="post" action="/ops/login" id="login">`) {
		t.Fatalf("GET /ops/ without a session: %s\n%s", resp.Status, page)
	}
	if strings.Contains(page, "newark") {
		t.Error("the login page shows the console")
	}

	post := func(path string, form url.Values, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base(st)+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp, b.String()
	}

	resp, page = post("/ops/login", url.Values{"token": {st.Token + "x"}})
	if resp.StatusCode != 401 || len(resp.Cookies()) != 0 || !strings.Contains(page, "not accepted") || strings.Contains(page, st.Token) {
		t.Fatalf("wrong token: %s, cookies %v\n%s", resp.Status, resp.Cookies(), page)
	}
	resp, _ = post("/ops/login", url.Values{"token": {st.Token}})
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("login: %s, cookies %v", resp.Status, resp.Cookies())
	}
	ck := resp.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/ops/" || len(ck.Value) < 40 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/ops/, not Secure without TLS, a long random value", ck)
	}

	resp, page = get(t, c, ops)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /ops/ with a session: %s %v", resp.Status, resp.Header)
	}
	wantContains(t, "the console", page, `id="suspend-unit-newark"`, `id="suspend-unit-houston"`, `id="suspend-tenant"`,
		`data-authority="W-DEMO-1"`, `data-authority="L-DEMO-2"`, "200 in 30 days", "1000 in 30 days")
	csrf := csrfOf(t, page)
	suspended := func() string {
		t.Helper()
		req, _ := http.NewRequest("GET", base(st)+"/ops/api/suspensions", nil)
		req.Header.Set("Authorization", "Bearer "+st.Token)
		resp, err := c.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /ops/api/suspensions: %v %v", resp.Status, err)
		}
		defer resp.Body.Close()
		var sus []struct{ Unit, Reason string }
		json.NewDecoder(resp.Body).Decode(&sus)
		var out []string
		for _, s := range sus {
			out = append(out, s.Unit+": "+s.Reason)
		}
		return strings.Join(out, "; ")
	}

	form := url.Values{"tenant": {"agency"}, "unit": {"newark"}, "reason": {"press report: bulk location queries"}}
	wrong := csrf[:len(csrf)-1] + "A"
	if wrong == csrf {
		wrong = csrf[:len(csrf)-1] + "B"
	}
	for name, tc := range map[string]struct {
		csrf string
		hdr  []string
		code int
	}{
		"no CSRF token":    {"", nil, 403},
		"wrong CSRF token": {wrong, nil, 403},
		"other origin":     {csrf, []string{"Origin", "http://evil.example"}, 403},
		"prefixed CSRF":    {"x" + csrf, nil, 403},
		"doubled CSRF":     {csrf + csrf, nil, 403},
	} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if tc.csrf != "" {
			f.Set("csrf", tc.csrf)
		}
		if resp, _ := post("/ops/suspend", f, tc.hdr...); resp.StatusCode != tc.code {
			t.Errorf("%s: %s, want %d", name, resp.Status, tc.code)
		}
	}
	if s := suspended(); s != "" {
		t.Fatalf("refused forms suspended %s", s)
	}

	// No reason: refused, with the reason why on the console.
	resp, _ = post("/ops/suspend", url.Values{"tenant": {"agency"}, "unit": {"newark"}, "reason": {"  "}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("suspend without a reason: %s", resp.Status)
	}
	if _, page = get(t, c, ops); !strings.Contains(page, `<p class="flash bad" id="flash">a reason is required`) {
		t.Errorf("no flash for the missing reason:\n%s", page)
	}
	if s := suspended(); s != "" {
		t.Fatalf("suspended without a reason: %s", s)
	}

	f := url.Values{"csrf": {csrf}}
	for k, v := range form {
		f[k] = v
	}
	resp, _ = post("/ops/suspend", f, "Origin", base(st))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("suspend: %s", resp.Status)
	}
	_, page = get(t, c, ops)
	m := regexp.MustCompile(`id="flash">Unit newark of agency suspended, recorded as entry (\d+)\.<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no flash for the suspension:\n%s", page)
	}
	if s := suspended(); s != "newark: press report: bulk location queries" {
		t.Fatalf("suspensions after the form: %q", s)
	}
	wantContains(t, "the console", page, `id="resume-unit-newark"`)
	alice := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
	_, err := run(alice, "SELECT full_name FROM persons WHERE person_id = 101")
	wantDenied(t, err, "AUP-8")

	// The API: bearer only.
	for _, hdr := range []string{"", "Bearer " + st.Token + "x", "Basic " + st.Token} {
		req, _ := http.NewRequest("POST", base(st)+"/ops/api/resume", strings.NewReader(`{"tenant":"agency","unit":"newark","reason":"x"}`))
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		resp, err := c.Do(req) // with the session cookie in the jar
		if err != nil || resp.StatusCode != 401 {
			t.Fatalf("API with %q and the session cookie: %v %v, want 401", hdr, resp.Status, err)
		}
	}
	// Alerts follow the log's checkpoints.
	var alerts []console.Alert
	for deadline := time.Now().Add(10 * time.Second); ; {
		apiGet(t, st, "/ops/api/alerts", &alerts)
		if len(alerts) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(alerts) == 0 || alerts[0].Kind != "suspension" || alerts[0].Unit != "newark" || !strings.Contains(alerts[0].Detail, "press report") {
		t.Errorf("alerts after the suspension: %+v", alerts)
	}
	_, page = get(t, c, ops)
	wantContains(t, "the console", page, `<tr data-kind="suspension" data-unit="newark"`)

	resp, _ = post("/ops/resume", url.Values{"tenant": {"agency"}, "unit": {"newark"}, "reason": {"review complete"}, "csrf": {csrf}})
	if _, page = get(t, c, ops); resp.StatusCode != http.StatusSeeOther || !strings.Contains(page, "Unit newark of agency resumed, recorded as entry") {
		t.Fatalf("resume: %s\n%s", resp.Status, page)
	}
	wantRows(t, alice, "SELECT full_name FROM persons WHERE person_id = 101", 1)

	if resp, _ := get(t, c, base(st)+"/metrics"); resp.StatusCode != 401 {
		t.Errorf("/metrics with the session cookie only: %s, want 401", resp.Status)
	}

	resp, _ = post("/ops/logout", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s", resp.Status)
	}
	// The old cookie is dead, even if a browser kept it.
	req, _ := http.NewRequest("POST", base(st)+"/ops/suspend", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(ck)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("a form after logout: %v %v, want 401", resp.Status, err)
	}
	if _, page := get(t, c, ops); !strings.Contains(page, `id="login"`) {
		t.Error("after logout, /ops/ is not the login form")
	}
}

// TestAlerts: the console derives alerts from the log — a unit near its
// coverage cap, an analyst denied again and again — and counts each
// authority's use.
func TestAlerts(t *testing.T) {
	t.Parallel()
	st := teststack.Start(t, 2500)
	bob := connect(t, st, "bob", "-c custodes.authority=L-DEMO-2")
	// 33 statements of 5 new people: 165 subjects, 82% of newark's 200.
	for i := range 33 {
		p := 1000 + 5*i
		wantRows(t, bob, fmt.Sprintf("SELECT person_id, full_name FROM persons WHERE person_id IN (%d, %d, %d, %d, %d)", p, p+1, p+2, p+3, p+4), 5)
	}
	alice := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
	for range 5 {
		_, err := run(alice, "COPY persons TO STDOUT")
		wantDenied(t, err, "AUP-7")
	}
	settled(t, st, 38)

	api := func(path string, v any) { t.Helper(); apiGet(t, st, path, v) }
	var alerts []console.Alert
	api("/ops/api/alerts", &alerts)
	var kinds []string
	for _, a := range alerts {
		kinds = append(kinds, a.Kind+"/"+a.Unit+": "+a.Detail)
	}
	all := strings.Join(kinds, "\n")
	wantContains(t, "the alerts", all,
		"coverage/newark: unit newark received rows about 165 distinct subjects in the last 30 days: 82% of its cap of 200",
		"denials/newark: analyst ", "was denied 5 statements in the last hour (", "AUP-7 ×5")
	if strings.Contains(all, "houston") || strings.Contains(all, "tenant agency received") {
		t.Errorf("alerts for scopes below 80%%:\n%s", all)
	}

	var cov []console.Coverage
	api("/ops/api/coverage", &cov)
	if len(cov) != 3 || cov[0].Unit != "" || cov[0].Subjects != 165 || cov[1].Unit != "newark" || cov[1].Subjects != 165 || cov[1].Cap != 200 || cov[2].Subjects != 0 {
		t.Errorf("coverage %+v", cov)
	}

	var as []console.AuthoritySummary
	api("/ops/api/authorities", &as)
	use := map[string]console.AuthorityUse{}
	for _, a := range as {
		if a.Use == nil {
			t.Fatalf("authority %s without its use", a.ID)
		}
		use[a.ID] = *a.Use
	}
	if u := use["L-DEMO-2"]; u.Allowed != 33 || u.Denied != 0 || u.Subjects != 165 || u.Rows != 165 || time.Since(u.Last) > time.Minute {
		t.Errorf("L-DEMO-2 used %+v, want 33 allowed statements about 165 subjects", u)
	}
	if u := use["W-DEMO-1"]; u.Allowed != 0 || u.Denied != 5 {
		t.Errorf("W-DEMO-1 used %+v, want 5 denied", u)
	}
	if u := use["W-DEMO-3"]; u != (console.AuthorityUse{}) {
		t.Errorf("W-DEMO-3 used %+v, want never", u)
	}
}
