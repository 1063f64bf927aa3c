package config

import (
	"strings"
	"testing"
)

const good = `
backend:
  url: postgres://gw:pw@127.0.0.1:5432/agency
control:
  url: postgres://ctl:pw@127.0.0.1:5432/custodes
log:
  dir: log
  origin: demo.custodes/agency
  key_file: log.key
operator_token_file: operator.token
tenant:
  name: agency
  units:
    - name: newark
      analysts:
        - name: alice
          scram: SCRAM-SHA-256$4096:c2FsdA==$a:b
datasets:
  - table: public.persons
    subject_key: person_id
    category: identity
    protected: [religion, ethnicity]
  - table: public.addresses
    category: reference
coverage:
  unit_cap: 200
  tenant_cap: 1000
overseers: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
approvers: [court-liaison+3214d726+ASSTwJPWDwV1vy6csxONXWG8QIqsUgPUMuCCN0fNvmMp]
`

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:6432" || c.HTTP != "127.0.0.1:8080" {
		t.Errorf("defaults: listen %q http %q", c.Listen, c.HTTP)
	}
	if c.Coverage.Window.Hours() != 720 {
		t.Errorf("default window %v", c.Coverage.Window)
	}
	if c.BackendDatabase() != "agency" || c.ControlDatabase() != "custodes" {
		t.Errorf("databases %q %q", c.BackendDatabase(), c.ControlDatabase())
	}
	if u, ok := c.UnitOf("alice"); !ok || u != "newark" {
		t.Errorf("UnitOf(alice) = %q, %v", u, ok)
	}
	// Marshal round-trips.
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(b); err != nil {
		t.Fatalf("re-parse of marshalled config: %v\n%s", err, b)
	}
}

func TestParseBad(t *testing.T) {
	for _, tc := range []struct{ edit, want string }{
		{"coverage:\n  unit_cap: 200\n  tenant_cap: 1000\n  surprise: 1\noverseers: [age1x]\napprovers: [a+b+c]\n", "field surprise not found"},
		{"listenn: x\n", "field listenn not found"},
		{"", ""},
	} {
		text := good
		if tc.edit != "" {
			if strings.HasPrefix(tc.edit, "coverage:") {
				text = text[:strings.Index(text, "coverage:")] + tc.edit
			} else {
				text += tc.edit
			}
		}
		_, err := Parse([]byte(text))
		if tc.want == "" {
			if err != nil {
				t.Errorf("unexpected error %v", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("edit %q: want error containing %q, got %v", tc.edit, tc.want, err)
		}
	}
	for _, tc := range []struct{ from, to, want string }{
		{"key_file: log.key", "", "log.key_file is required"},
		{"category: identity", "category: gossip", `datasets[0].category "gossip" must be one of`},
		{"/custodes\n", "/agency\n", "different database"},
		{"table: public.persons", "table: persons", "must be schema.table"},
		{"scram: SCRAM-SHA-256$4096:c2FsdA==$a:b", "scram: hunter2", "must be a SCRAM-SHA-256 verifier"},
		{"    subject_key: person_id\n", "", "category identity needs a subject_key"},
		{"unit_cap: 200", "unit_cap: -1", "must not be negative"},
		{"url: postgres://gw:pw@127.0.0.1:5432/agency", "url: mysql://x/agency", "backend.url: not a postgres:// URL"},
	} {
		text := strings.Replace(good, tc.from, tc.to, 1)
		_, err := Parse([]byte(text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q → %q: want error containing %q, got %v", tc.from, tc.to, tc.want, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("error text leaks a URL with its password: %v", err)
		}
	}
}
