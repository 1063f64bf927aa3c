package policy

import "testing"

// FuzzRunTests: a policy-test file from anyone gives a report or an error,
// never a panic.
func FuzzRunTests(f *testing.F) {
	f.Add([]byte("- name: x\n  request: {phase: statement, class: read}\n  expect: allow\n"))
	f.Add([]byte("- name: y\n  request: {phase: result, result_subjects: 9}\n  expect: deny\n  rules: [AUP-3]\n"))
	f.Add([]byte("[[["))
	f.Fuzz(func(t *testing.T, b []byte) {
		RunTests(Default(), b)
	})
}
