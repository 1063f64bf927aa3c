package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Text writes the report for a terminal: the same numbers as JSON, in
// tables. Banded numbers are marked with *.
func (r *Report) Text(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }

	p("custodes transparency report")
	p("log\t%s", r.Checkpoint.Origin)
	p("checkpoint\tsize %d, root %s", r.Checkpoint.Size, r.Checkpoint.Root)
	p("period\t%s", r.Period.describe())
	if r.Period.FirstEntry != "" {
		p("entries\tfirst %s, last %s", r.Period.FirstEntry, r.Period.LastEntry)
	}
	p("")
	p("* banded: %s", r.Banding.Rule)

	p("")
	var kinds []string
	for _, k := range r.Entries.ByKind {
		if k.Count > 0 {
			kinds = append(kinds, fmt.Sprintf("%d %s", k.Count, k.Kind))
		}
	}
	p("Entries: %d (%s)", r.Entries.Total, strings.Join(kinds, ", "))

	s := r.Statements
	p("")
	p("Statements: %d, %d allowed, %d denied", s.Total, s.Allowed, s.Denied)
	if s.IncompleteTokens > 0 {
		p("  %d allowed statements list fewer subject tokens than subjects: subject counts are lower bounds", s.IncompleteTokens)
	}
	if len(s.DenialsByRule) > 0 {
		p("  rule\tdenials")
		for _, c := range s.DenialsByRule {
			p("  %s\t%d", c.Rule, c.Count)
		}
	}
	if len(s.ByUnit) > 0 {
		p("  unit\tallowed\tdenied")
		for _, u := range s.ByUnit {
			p("  %s\t%d\t%d", scopeName(u.Tenant, u.Unit), u.Allowed, u.Denied)
		}
	}

	p("")
	p("Authorities*")
	p("  kind\tissued\trevoked")
	for _, a := range r.Authorities {
		p("  %s\t%s\t%s", a.Kind, a.Issued, a.Revoked)
	}

	p("")
	p("Distinct subjects*")
	if len(r.Subjects) == 0 {
		p("  none")
	} else {
		p("  tenant/unit\tin the period\tpeak in %d days", r.Coverage.WindowDays)
		for _, x := range r.Subjects {
			p("  %s\t%s\t%s", scopeName(x.Tenant, x.Unit), x.Distinct, x.Peak)
		}
	}

	if len(r.Coverage.Days) > 0 && len(r.Coverage.Series) > 0 {
		p("")
		p("Coverage*: distinct subjects in the %d days ending each day", r.Coverage.WindowDays)
		head := "  day"
		for _, x := range r.Coverage.Series {
			head += "\t" + scopeName(x.Tenant, x.Unit)
		}
		p("%s", head)
		for i, d := range r.Coverage.Days {
			line := "  " + d
			for _, x := range r.Coverage.Series {
				line += "\t" + x.Subjects[i].String()
			}
			p("%s", line)
		}
	}

	p("")
	p("Suspensions: %d, resumptions: %d", r.Suspensions.Suspensions, r.Suspensions.Resumptions)
	for _, e := range r.Suspensions.Events {
		p("  %s\t%s\t%s\t%s", e.Time, e.Kind, scopeName(e.Tenant, e.Unit), strconv.Quote(e.Reason))
	}
	if r.Suspensions.Omitted > 0 {
		p("  (%d more)", r.Suspensions.Omitted)
	}

	for _, st := range r.Storage {
		p("")
		p("Storage of %s: %d attestations; %s", st.Tenant, st.Attestations, growth(st.GrowthBytes, "bytes"))
		p("  \tdate\trows\tbytes")
		p("  first\t%s\t%d\t%d", st.First.Date, st.First.Rows, st.First.Bytes)
		p("  last\t%s\t%d\t%d", st.Last.Date, st.Last.Rows, st.Last.Bytes)
		p("")
		p("  dataset\tfirst bytes\tlast bytes\tgrowth")
		for _, d := range st.Datasets {
			p("  %s\t%d\t%d\t%s", d.Dataset, d.FirstBytes, d.LastBytes, ratioText(d.GrowthBytes))
		}
	}

	p("")
	p("Login failures: %d", r.LoginFailures)

	p("")
	p("Policy versions published: %d", r.Policies.Published)
	for _, v := range r.Policies.Versions {
		p("  %s\tversion %s\t%s\t%d rules", v.Time, v.Version, v.Policy, len(v.Rules))
	}
	if r.Policies.Omitted > 0 {
		p("  (%d more)", r.Policies.Omitted)
	}

	p("")
	p("Alerts: %d", r.Alerts.Total)
	for _, c := range r.Alerts.ByRule {
		p("  %s\t%d", c.Rule, c.Count)
	}
	return tw.Flush()
}

func (p Period) describe() string {
	switch {
	case p.From == "" && p.To == "":
		return "the whole log"
	case p.From == "":
		return "until " + p.To + " (exclusive)"
	case p.To == "":
		return "from " + p.From
	}
	return "from " + p.From + " until " + p.To + " (exclusive)"
}

func scopeName(tenant, unit string) string {
	if unit == "" {
		return tenant
	}
	return tenant + "/" + unit
}

func ratioText(r *float64) string {
	if r == nil {
		return "—"
	}
	return strconv.FormatFloat(*r, 'f', -1, 64) + "×"
}

func growth(r *float64, what string) string {
	if r == nil {
		return "no growth ratio (nothing stored at first)"
	}
	return what + " grew " + ratioText(r) + " over the period"
}
