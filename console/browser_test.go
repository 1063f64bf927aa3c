package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/custodes/custodes/internal/teststack"
)

// Browser tests drive the console in a real headless Chromium (Debian's
// chromium package) with chromedp. They skip where no Chromium is
// installed; CUSTODES_CHROMIUM names another binary.

func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CUSTODES_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium installed (apt-get install chromium, or set CUSTODES_CHROMIUM): skipping the browser test")
	return ""
}

// browser starts a fresh headless Chromium and returns a tab's context.
// Every console error or uncaught exception of the pages it shows (a
// Content-Security-Policy violation, a script that fails) fails the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 2*time.Minute)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancelTime()
		cancelTab()
		cancelAlloc()
		t.Fatalf("couldn't start %s: %v", path, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var mu sync.Mutex
	var problems []string
	msgs := chromedp.Console(ctx)
	go func() {
		defer wg.Done()
		for m, err := range msgs {
			if err != nil {
				return
			}
			// The one error a page may show is the 401 of the login
			// form that the test gives a wrong token on purpose.
			expected := strings.HasSuffix(m.URL, "/ops/login") && strings.Contains(m.Text, "401")
			if (m.IsException() || m.Type == "error") && !expected {
				mu.Lock()
				problems = append(problems, m.String()+" ("+m.URL+")")
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
		wg.Wait()
		for _, p := range problems {
			t.Errorf("browser console: %s", p)
		}
	})
	return ctx
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// TestBrowser: a person at a browser reads the public report, with the
// numbers the log gives; the operator logs in, suspends unit newark with
// a reason, alice's next statement in her open session is denied by
// AUP-8, the public page shows the suspension, and resuming from the
// console gives alice her access back.
func TestBrowser(t *testing.T) {
	chromium(t)
	st := teststack.Start(t, 2500)
	n := workload(t, st)
	want := settled(t, st, n)
	alice := connect(t, st, "alice", "-c custodes.authority=W-DEMO-1")
	wantRows(t, alice, "SELECT full_name FROM persons WHERE person_id = 101", 1)
	want = settled(t, st, int(want.Statements.Total)+1)
	ctx := browser(t)

	// The public page.
	do(t, ctx, "open the public page", chromedp.Navigate(base(st)+"/"), chromedp.WaitVisible(chromedp.CSS("#stat-total")))
	for sel, n := range map[string]uint64{"#stat-total": want.Statements.Total, "#stat-allowed": want.Statements.Allowed,
		"#stat-denied": want.Statements.Denied, "#cp-size": want.Checkpoint.Size} {
		if got := text(t, ctx, sel); got != fmt.Sprint(n) {
			t.Errorf("%s shows %s, the log gives %d", sel, got, n)
		}
	}
	if len(want.Statements.DenialsByRule) < 2 {
		t.Fatalf("the workload should deny by two rules at least: %+v", want.Statements)
	}
	for _, d := range want.Statements.DenialsByRule {
		if got := text(t, ctx, fmt.Sprintf(`#denials tr[data-rule="%s"] td.n`, d.Rule)); got != fmt.Sprint(d.Count) {
			t.Errorf("denials by %s: the page shows %s, the log gives %d", d.Rule, got, d.Count)
		}
	}
	if got := text(t, ctx, "#checkpoint-root"); got != want.Checkpoint.Root {
		t.Errorf("the page names root %s, the report %s", got, want.Checkpoint.Root)
	}
	if got := text(t, ctx, "#verify-cmd"); got != "custodes verify --log "+base(st)+"/log/ --key "+st.VKey {
		t.Errorf("verify command %q", got)
	}
	// Chart.js drew the charts, from /assets/ under the page's CSP.
	drawn := strings.Join(eval[[]string](t, ctx, `Object.keys(window.custodesCharts || {}).sort()`), ",")
	for _, id := range []string{"chart-coverage", "chart-denials", "chart-denials-time", "chart-statements"} {
		if !strings.Contains(drawn, id) {
			t.Errorf("%s not drawn; drawn: %s", id, drawn)
		}
	}
	if got := eval[float64](t, ctx, `window.custodesCharts["chart-statements"].data.datasets[1].data.reduce((a, b) => a + b, 0)`); uint64(got) != want.Statements.Denied {
		t.Errorf("the statements chart draws %v denials, the log gives %d", got, want.Statements.Denied)
	}

	// The operator logs in and suspends newark.
	do(t, ctx, "open the operator console", chromedp.Navigate(base(st)+"/ops/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	do(t, ctx, "log in with a wrong token", chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token"), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#refused")))
	do(t, ctx, "log in", chromedp.SendKeys(chromedp.CSS("#token"), st.Token), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#coverage")))
	if got := text(t, ctx, `#coverage tr[data-unit="newark"] .status`); got != "active" {
		t.Errorf("newark's status before: %q", got)
	}
	const reason = "press report: bulk location queries"
	do(t, ctx, "suspend without a reason", chromedp.Click(chromedp.CSS(`#suspend-unit-newark button`)), chromedp.Sleep(300*time.Millisecond))
	if url := eval[string](t, ctx, `location.pathname`); url != "/ops/" || eval[bool](t, ctx, `!!document.getElementById("flash")`) {
		t.Fatal("the browser sent the suspend form without its required reason")
	}
	do(t, ctx, "suspend newark",
		chromedp.SendKeys(chromedp.CSS(`#suspend-unit-newark input[name="reason"]`), reason),
		chromedp.Click(chromedp.CSS(`#suspend-unit-newark button`)),
		chromedp.WaitVisible(chromedp.CSS("#flash")))
	if got := text(t, ctx, "#flash"); !strings.HasPrefix(got, "Unit newark of agency suspended, recorded as entry ") {
		t.Fatalf("flash after suspending: %q", got)
	}
	if got := text(t, ctx, `#coverage tr[data-unit="newark"] .status`); !strings.Contains(got, "suspended") || !strings.Contains(got, reason) {
		t.Errorf("newark's status after: %q", got)
	}

	// Alice's open session: her next statement is denied.
	_, err := run(alice, "SELECT full_name FROM persons WHERE person_id = 101")
	wantDenied(t, err, "AUP-8")

	// The public page shows the suspension once a checkpoint covers it.
	banner := `p.banner[data-suspended="newark"]`
	for deadline := time.Now().Add(15 * time.Second); ; {
		do(t, ctx, "reload the public page", chromedp.Navigate(base(st)+"/"), chromedp.WaitVisible(chromedp.CSS("#stat-total")))
		if eval[bool](t, ctx, fmt.Sprintf(`!!document.querySelector(%q)`, banner)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the public page does not show newark's suspension")
		}
		time.Sleep(300 * time.Millisecond)
	}
	if got := text(t, ctx, banner); !strings.Contains(got, "unit newark of agency") || !strings.Contains(got, reason) {
		t.Errorf("banner %q", got)
	}
	if got := text(t, ctx, `#suspensions tr[data-kind="suspension"][data-unit="newark"]`); !strings.Contains(got, reason) {
		t.Errorf("suspensions table row %q", got)
	}
	if got := text(t, ctx, "#stat-suspensions"); got != "1" {
		t.Errorf("suspensions tile %q", got)
	}
	screenshot(t, ctx, "public")

	// Resuming from the console restores access.
	do(t, ctx, "resume newark",
		chromedp.Navigate(base(st)+"/ops/"), chromedp.WaitVisible(chromedp.CSS("#resume-unit-newark")),
		chromedp.SendKeys(chromedp.CSS(`#resume-unit-newark input[name="reason"]`), "review complete"),
		chromedp.Click(chromedp.CSS(`#resume-unit-newark button`)),
		chromedp.WaitVisible(chromedp.CSS("#flash")))
	if got := text(t, ctx, "#flash"); !strings.HasPrefix(got, "Unit newark of agency resumed, recorded as entry ") {
		t.Fatalf("flash after resuming: %q", got)
	}
	wantRows(t, alice, "SELECT full_name FROM persons WHERE person_id = 101", 1)
	screenshot(t, ctx, "operator")
}

// TestScreenshots saves the screenshots kept in docs/screenshots, from a
// running console: after
//
//	custodes demo --scenario && custodes demo &
//	custodes suspend --config custodes-demo/custodes.yaml --tenant agency --unit newark --reason "…"
//
// run
//
//	CUSTODES_SCREENSHOTS=$PWD/docs/screenshots CUSTODES_CONSOLE=http://127.0.0.1:8080 \
//	CUSTODES_TOKEN_FILE=custodes-demo/operator.token go test ./console -run TestScreenshots
func TestScreenshots(t *testing.T) {
	url, tokenFile := os.Getenv("CUSTODES_CONSOLE"), os.Getenv("CUSTODES_TOKEN_FILE")
	if url == "" || tokenFile == "" || os.Getenv("CUSTODES_SCREENSHOTS") == "" {
		t.Skip("set CUSTODES_SCREENSHOTS, CUSTODES_CONSOLE and CUSTODES_TOKEN_FILE to take the screenshots of a running console")
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	do(t, ctx, "open the public page", chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.CSS("#stat-total")))
	screenshot(t, ctx, "public")
	do(t, ctx, "log in", chromedp.Navigate(url+"/ops/"), chromedp.SendKeys(chromedp.CSS("#token"), strings.TrimSpace(string(token))),
		chromedp.Submit(chromedp.CSS("#token")), chromedp.WaitVisible(chromedp.CSS("#coverage")))
	screenshot(t, ctx, "operator")
}

// screenshot saves the page under $CUSTODES_SCREENSHOTS, if set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("CUSTODES_SCREENSHOTS")
	if dir == "" {
		return
	}
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
