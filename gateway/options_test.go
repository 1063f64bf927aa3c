package gateway

import "testing"

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"-c custodes.authority=W-DEMO-1", "W-DEMO-1", true},
		{"-ccustodes.authority=W-DEMO-1", "W-DEMO-1", true},
		{"--custodes.authority=W-DEMO-1", "W-DEMO-1", true},
		{"-c CUSTODES.AUTHORITY=W-1  ", "W-1", true},
		{`-c custodes.authority=a\ b`, "a b", true},
		{"-c row_security=off", "", false},
		{"-c custodes.authority=W-1 -c search_path=evil", "", false},
		{"-c", "", false},
		{"--", "", false},
		{"custodes.authority=W-1", "", false},
	} {
		got, err := parseOptions(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseOptions(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzParseOptions: startup options from any client never panic, and only
// custodes.authority is ever accepted.
func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{"-c custodes.authority=W-DEMO-1", "-c row_security=off", `--custodes.authority=a\ b`, "-c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseOptions(s)
		if err != nil && a != "" {
			t.Fatalf("an error with an authority %q", a)
		}
	})
}
