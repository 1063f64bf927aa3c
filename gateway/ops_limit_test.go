package gateway_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodes/custodes/cli"
	"github.com/custodes/custodes/internal/teststack"
)

// TestSuspendWithWrongToken: the operator's commands go through the
// console, so a wrong operator token counts against its login limit, and
// once refused the command says so and for how long, rather than a bare
// "too many requests".
func TestSuspendWithWrongToken(t *testing.T) {
	st := teststack.Start(t, 200)
	cfgText, err := os.ReadFile(filepath.Join(st.Dir, "custodes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(st.Dir, "wrong.token"), []byte("not-the-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(st.Dir, "wrong.yaml")
	text := strings.Replace(string(cfgText), "operator_token_file: operator.token", "operator_token_file: wrong.token", 1)
	if text == string(cfgText) {
		t.Fatal("the stack's config names no operator.token")
	}
	if err := os.WriteFile(wrong, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var last string
	for range 8 {
		var out, errb bytes.Buffer
		if code := cli.Main([]string{"suspend", "--config", wrong, "--tenant", "agency", "--unit", "newark", "--reason", "x"}, &out, &errb); code == 0 {
			t.Fatal("suspend with a wrong operator token succeeded")
		}
		last = out.String() + errb.String()
	}
	if !strings.Contains(last, "too many wrong operator tokens; try again in") {
		t.Fatalf("after 8 wrong tokens: %q", last)
	}
}
