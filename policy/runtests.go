package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// testCase is one entry of a policy test file.
type testCase struct {
	Name    string   `yaml:"name"`
	Request Request  `yaml:"request"`
	Expect  string   `yaml:"expect"`
	Rules   []string `yaml:"rules"`
}

// RunTests runs a table of requests and expected decisions against p, for
// people who write policy (custodes policy test FILE).
//
// The file is a YAML list of cases:
//
//   - name: person-level read without an authority
//     request:              # the fields of Request, in snake_case
//     phase: statement    # or result; statement when omitted
//     unit: newark
//     class: read
//     datasets:
//   - {name: persons, category: identity, registered: true, person_level: true}
//     authority: {id: W-1, kind: judicial_warrant, unit: newark, datasets: ["*"],
//     lists_subjects: true, subjects: 3, active: true}
//     expect: deny          # or allow
//     rules: [AUP-1]        # exactly the rules of the decision; empty for allow
//
// Decoding is strict: unknown keys are errors that give their line. The
// report has one line per case, "ok   name" or "FAIL name: expected …, got
// …" followed by what differs, and a summary. failed counts failing cases;
// err is for a file that cannot be read as a test table.
func RunTests(p *Policy, yamlText []byte) (report string, failed int, err error) {
	cases, err := parseTests(yamlText)
	if err != nil {
		return "", 0, err
	}
	var b strings.Builder
	for _, tc := range cases {
		if tc.Request.Phase == 0 {
			tc.Request.Phase = PhaseStatement
		}
		d := p.Decide(&tc.Request)
		got := make([]string, len(d.Rules))
		for i, r := range d.Rules {
			got[i] = r.ID
		}
		want := slices.Clone(tc.Rules)
		slices.SortFunc(want, compareIDs)
		if d.Allow == (tc.Expect == "allow") && slices.Equal(got, want) {
			fmt.Fprintf(&b, "ok   %s\n", tc.Name)
			continue
		}
		failed++
		fmt.Fprintf(&b, "FAIL %s: expected %s %s, got %s %s\n",
			tc.Name, tc.Expect, listIDs(want), verdict(d.Allow), listIDs(got))
		for _, id := range want {
			if !slices.Contains(got, id) {
				fmt.Fprintf(&b, "     - %-8s expected, did not fire\n", id)
			}
		}
		for _, r := range d.Rules {
			if !slices.Contains(want, r.ID) {
				fmt.Fprintf(&b, "     + %-8s fired (%s), not expected\n", r.ID, r.Title)
			}
		}
		if d.Err != nil {
			fmt.Fprintf(&b, "     evaluation error: %v\n", d.Err)
		}
	}
	if failed == 0 {
		fmt.Fprintf(&b, "PASS: %d cases\n", len(cases))
	} else {
		fmt.Fprintf(&b, "FAIL: %d of %d cases failed\n", failed, len(cases))
	}
	return b.String(), failed, nil
}

func parseTests(yamlText []byte) ([]testCase, error) {
	// The strict decode gives lines for unknown keys and bad types, but not
	// for values a field rejects (a misspelt phase), so look at the nodes
	// first: they give every case its line.
	var root yaml.Node
	if err := yaml.Unmarshal(yamlText, &root); err != nil {
		return nil, fmt.Errorf("couldn't read policy tests: %w", err)
	}
	var lines []int
	if len(root.Content) == 1 && root.Content[0].Kind == yaml.SequenceNode {
		for _, n := range root.Content[0].Content {
			lines = append(lines, n.Line)
			if v := lookup(n, "request", "phase"); v != nil {
				var ph Phase
				if err := ph.UnmarshalText([]byte(v.Value)); err != nil {
					return nil, fmt.Errorf("couldn't read policy tests: line %d: %w", v.Line, err)
				}
			}
		}
	}

	dec := yaml.NewDecoder(bytes.NewReader(yamlText))
	dec.KnownFields(true)
	var cases []testCase
	if err := dec.Decode(&cases); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("couldn't read policy tests: the file has no cases")
		}
		return nil, fmt.Errorf("couldn't read policy tests: %w", err)
	}
	if len(cases) == 0 {
		return nil, errors.New("couldn't read policy tests: the file has no cases")
	}
	names := make(map[string]bool)
	for i, tc := range cases {
		line := lines[i] // the strict decode succeeded, so the nodes were a sequence of cases
		switch {
		case tc.Name == "":
			return nil, fmt.Errorf("couldn't read policy tests: line %d: case %d has no name", line, i+1)
		case names[tc.Name]:
			return nil, fmt.Errorf("couldn't read policy tests: line %d: two cases are named %q", line, tc.Name)
		case tc.Expect != "allow" && tc.Expect != "deny":
			return nil, fmt.Errorf("couldn't read policy tests: line %d: case %q: expect must be allow or deny, not %q", line, tc.Name, tc.Expect)
		}
		names[tc.Name] = true
	}
	return cases, nil
}

// lookup follows keys down nested mappings, or returns nil.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func verdict(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

func listIDs(ids []string) string { return "[" + strings.Join(ids, " ") + "]" }
