package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// row is one figure of the table.
type row struct {
	figure, baseline, ours, ratio, required, goal string
	metReq, metGoal                               bool
	// info marks a figure that is measured, not targeted: the ceiling.
	info bool
}

// table is the one table the harness prints.
type table struct{ rows []row }

func (t *table) add(r row) { t.rows = append(t.rows, r) }

// print writes the table as Markdown, so that it pastes into
// docs/PERFORMANCE.md as it is.
func (t *table) print(w io.Writer) {
	head := []string{"figure", "baseline", "ours", "ratio", "target: required / goal", "met: required / goal"}
	cells := [][]string{head}
	for _, r := range t.rows {
		target, met := r.required+" / "+r.goal, yesNo(r.metReq)+" / "+yesNo(r.metGoal)
		if r.info {
			target, met = "— (measured: what the design costs before custodes does anything)", "—"
		}
		cells = append(cells, []string{r.figure, orDash(r.baseline), r.ours, orDash(r.ratio), target, met})
	}
	width := make([]int, len(head))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	line := func(c []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, s := range c {
			fmt.Fprintf(&b, " %s%s |", s, strings.Repeat(" ", width[i]-utf8.RuneCountInString(s)))
		}
		fmt.Fprintln(w, b.String())
	}
	line(cells[0])
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, c := range cells[1:] {
		line(c)
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// count formats a number with thousands separators, no fraction.
func count(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
