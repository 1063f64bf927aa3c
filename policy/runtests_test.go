package policy

import (
	"os"
	"strings"
	"testing"
)

func TestRunTestsExample(t *testing.T) {
	text, err := os.ReadFile("../examples/policy-test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	report, failed, err := RunTests(Default(), text)
	if err != nil {
		t.Fatal(err)
	}
	if failed != 0 {
		t.Errorf("%d cases failed:\n%s", failed, report)
	}
	cases, err := parseTests(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 15 {
		t.Errorf("only %d cases", len(cases))
	}
	if n := strings.Count(report, "\nok   ") + 1; n != len(cases) {
		t.Errorf("report has %d ok lines for %d cases:\n%s", n, len(cases), report)
	}
	// Every rule of the default policy is exercised by some denial.
	for _, r := range Default().Rules() {
		found := false
		for _, tc := range cases {
			for _, id := range tc.Rules {
				found = found || id == r.ID
			}
		}
		if !found {
			t.Errorf("no case expects %s", r.ID)
		}
	}
}

func TestRunTestsFailure(t *testing.T) {
	text := `
- name: lawful
  request: {class: set}
  expect: allow
- name: bulk
  request:
    phase: result
    class: read
    datasets: [{name: addresses, category: reference, registered: true}]
    authority: {unit: u, datasets: ["*"], max_subjects: 10, active: true}
    unit: u
    result_subjects: 4
  expect: deny
  rules: [AUP-3]
- name: wrong rule
  request: {class: write}
  expect: deny
  rules: [AUP-9]
`
	report, failed, err := RunTests(Default(), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if failed != 2 {
		t.Errorf("failed = %d, want 2", failed)
	}
	for _, want := range []string{
		"ok   lawful\n",
		"FAIL bulk: expected deny [AUP-3], got allow []\n",
		"     - AUP-3    expected, did not fire\n",
		"FAIL wrong rule: expected deny [AUP-9], got deny [AUP-7]\n",
		"     + AUP-7    fired (export or side channel), not expected\n",
		"FAIL: 2 of 3 cases failed\n",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}

func TestRunTestsBadFile(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"unknown key", "- name: a\n  request:\n    class: read\n    clas: read\n  expect: allow\n", "line 4: field clas not found"},
		{"unknown case key", "- name: a\n  expected: allow\n", "line 2: field expected not found"},
		{"bad phase", "- name: a\n  request: {phase: later}\n  expect: allow\n", `line 2: unknown phase "later"`},
		{"bad expect", "- name: a\n  expect: maybe\n", `line 1: case "a": expect must be allow or deny, not "maybe"`},
		{"no name", "- expect: allow\n", "line 1: case 1 has no name"},
		{"duplicate", "- {name: a, expect: allow}\n- {name: a, expect: deny}\n", `line 2: two cases are named "a"`},
		{"empty", "", "no cases"},
		{"not a list", "name: a\n", "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := RunTests(Default(), []byte(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("RunTests error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
