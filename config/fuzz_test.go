package config

import (
	"strings"
	"testing"
)

// FuzzParse: any bytes give a config or an error, never a panic, and a
// config that parses marshals to one that parses again.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(strings.Replace(good, "unit_cap: 200", "unit_cap: [", 1)))
	f.Add([]byte("listen: [\n"))
	f.Add([]byte("coverage:\n  window: forever\n"))
	f.Add([]byte(good + "alerts:\n  working_hours: 22:00-06:00\n  time_zone: Asia/Tokyo\n  storage_growth_ratio: 1.5\n"))
	f.Add([]byte(good + "storage:\n  growth_alert_ratio: 2\n  growth_window: 24h\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("a parsed config does not marshal: %v", err)
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("a marshalled config does not parse: %v\n%s", err, out)
		}
	})
}
