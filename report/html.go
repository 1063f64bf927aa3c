package report

import (
	"fmt"
	"html/template"
	"io"
)

// HTML writes the report as one self-contained page (no scripts, fonts
// or images; its only style is inline, so a Content-Security-Policy
// serving it must allow style-src 'unsafe-inline' or the style's hash).
// Banded numbers are marked with *.
func (r *Report) HTML(w io.Writer) error {
	if err := page.Execute(w, r); err != nil {
		return fmt.Errorf("couldn't write report: %w", err)
	}
	return nil
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"scope":  scopeName,
	"period": Period.describe,
	"ratio":  ratioText,
	"at":     func(b []Band, i int) Band { return b[i] },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Transparency report — {{.Checkpoint.Origin}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#111;line-height:1.4}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border-bottom:1px solid #ccc;padding:.2rem .8rem;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.85em;word-break:break-all}
.note{color:#555;font-size:.9em}
.scroll{overflow-x:auto}
</style></head>
<body>
<h1>Transparency report</h1>
<p>Computed from the public log <code>{{.Checkpoint.Origin}}</code> alone, after verifying it, at the checkpoint of
size {{.Checkpoint.Size}} with root <code>{{.Checkpoint.Root}}</code>.
Period: {{period .Period}}{{if .Period.FirstEntry}}; entries from {{.Period.FirstEntry}} to {{.Period.LastEntry}}{{end}}.</p>
<p class="note">* banded: {{.Banding.Rule}}.</p>

<h2>Entries</h2>
<table><tr><th>kind</th><th class="n">entries</th></tr>
{{range .Entries.ByKind}}<tr><td>{{.Kind}}</td><td class="n">{{.Count}}</td></tr>
{{end}}<tr><th>total</th><th class="n">{{.Entries.Total}}</th></tr></table>

<h2>Statements</h2>
{{with .Statements}}
<table><tr><th></th><th class="n">statements</th></tr>
<tr><td>allowed</td><td class="n">{{.Allowed}}</td></tr>
<tr><td>denied</td><td class="n">{{.Denied}}</td></tr>
<tr><th>total</th><th class="n">{{.Total}}</th></tr></table>
{{if .IncompleteTokens}}<p class="note">{{.IncompleteTokens}} allowed statements list fewer subject tokens than subjects: subject counts are lower bounds.</p>{{end}}
<h3>Denials by rule</h3>
{{if .DenialsByRule}}<table><tr><th>rule</th><th class="n">denials</th></tr>
{{range .DenialsByRule}}<tr><td>{{.Rule}}</td><td class="n">{{.Count}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
{{if .ByUnit}}<h3>By unit</h3>
<table><tr><th>unit</th><th class="n">allowed</th><th class="n">denied</th></tr>
{{range .ByUnit}}<tr><td>{{scope .Tenant .Unit}}</td><td class="n">{{.Allowed}}</td><td class="n">{{.Denied}}</td></tr>
{{end}}</table>{{end}}
{{end}}

<h2>Authorities*</h2>
<table><tr><th>kind</th><th class="n">issued</th><th class="n">revoked</th></tr>
{{range .Authorities}}<tr><td>{{.Kind}}</td><td class="n">{{.Issued}}</td><td class="n">{{.Revoked}}</td></tr>
{{end}}</table>

<h2>Distinct subjects*</h2>
{{if .Subjects}}<table><tr><th>tenant/unit</th><th class="n">in the period</th><th class="n">peak in {{.Coverage.WindowDays}} days</th></tr>
{{range .Subjects}}<tr><td>{{scope .Tenant .Unit}}</td><td class="n">{{.Distinct}}</td><td class="n">{{.Peak}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}

{{if and .Coverage.Days .Coverage.Series}}
<h2>Coverage over time*</h2>
<p>Distinct subjects each tenant and unit received rows about in the {{.Coverage.WindowDays}} days ending each day.</p>
<div class="scroll"><table><tr><th>day</th>{{range .Coverage.Series}}<th class="n">{{scope .Tenant .Unit}}</th>{{end}}</tr>
{{$series := .Coverage.Series}}{{range $i, $d := .Coverage.Days}}<tr><td>{{$d}}</td>{{range $series}}<td class="n">{{at .Subjects $i}}</td>{{end}}</tr>
{{end}}</table></div>
{{end}}

<h2>Suspensions</h2>
<p>{{.Suspensions.Suspensions}} suspensions, {{.Suspensions.Resumptions}} resumptions.</p>
{{if .Suspensions.Events}}<table><tr><th>time</th><th>event</th><th>tenant/unit</th><th>reason</th></tr>
{{range .Suspensions.Events}}<tr><td>{{.Time}}</td><td>{{.Kind}}</td><td>{{scope .Tenant .Unit}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>{{if .Suspensions.Omitted}}<p class="note">{{.Suspensions.Omitted}} more not listed.</p>{{end}}{{end}}

<h2>Stored data</h2>
{{range .Storage}}
<h3>{{.Tenant}}: {{.Attestations}} attestations{{if .GrowthBytes}}, bytes grew {{ratio .GrowthBytes}}{{end}}</h3>
<table><tr><th></th><th>date</th><th class="n">rows</th><th class="n">bytes</th></tr>
<tr><td>first</td><td>{{.First.Date}}</td><td class="n">{{.First.Rows}}</td><td class="n">{{.First.Bytes}}</td></tr>
<tr><td>last</td><td>{{.Last.Date}}</td><td class="n">{{.Last.Rows}}</td><td class="n">{{.Last.Bytes}}</td></tr>
<tr><td>growth</td><td></td><td class="n">{{ratio .GrowthRows}}</td><td class="n">{{ratio .GrowthBytes}}</td></tr></table>
<table><tr><th>dataset</th><th class="n">first rows</th><th class="n">first bytes</th><th class="n">last rows</th><th class="n">last bytes</th><th class="n">growth</th></tr>
{{range .Datasets}}<tr><td>{{.Dataset}}</td><td class="n">{{.FirstRows}}</td><td class="n">{{.FirstBytes}}</td><td class="n">{{.LastRows}}</td><td class="n">{{.LastBytes}}</td><td class="n">{{ratio .GrowthBytes}}</td></tr>
{{end}}</table>
{{else}}<p>No storage attestations in the period.</p>{{end}}

<h2>Login failures</h2>
<p>{{.LoginFailures}}</p>

<h2>Policy versions</h2>
{{if .Policies.Versions}}<table><tr><th>published</th><th>version</th><th>policy</th><th class="n">rules</th></tr>
{{range .Policies.Versions}}<tr><td>{{.Time}}</td><td>{{.Version}}</td><td><code>{{.Policy}}</code></td><td class="n">{{len .Rules}}</td></tr>
{{end}}</table>{{if .Policies.Omitted}}<p class="note">{{.Policies.Omitted}} more not listed.</p>{{end}}{{else}}<p>None published in the period.</p>{{end}}

<h2>Alerts</h2>
<p>{{.Alerts.Total}}</p>
{{if .Alerts.ByRule}}<table><tr><th>rule</th><th class="n">alerts</th></tr>
{{range .Alerts.ByRule}}<tr><td>{{.Rule}}</td><td class="n">{{.Count}}</td></tr>
{{end}}</table>{{end}}
</body></html>
`))
