// Package report computes custodes' transparency report from the public
// log alone, so that anyone holding the log's verifier key can recompute
// the numbers the operator publishes.
//
//	src, err := translog.OpenSource("https://example.org/log/")
//	r, err := report.Compute(ctx, src, vkey, report.Options{From: from, To: to})
//	b, err := r.JSON() // or r.Text(w), r.HTML(w)
//
// [Compute] verifies the whole log first-to-last (translog.Verify) and
// counts as it goes; it returns no report for a log that does not verify,
// or that holds an entry which is not a valid custodes entry. The report
// names the checkpoint it was computed from (origin, size, root), and is
// deterministic: the same checkpoint and period give byte-identical JSON,
// so two parties can compare reports by hash.
//
// # What is counted
//
// The period is [From, To) by entry time; an open bound is the start or
// end of the log. In the period the report counts entries by kind;
// statements by decision, denials by rule (a statement denied by two rules
// counts for both) and both per unit; authorities issued and revoked per
// kind; login failures; alerts per rule; and lists suspensions and
// resumptions with their "reason" attr and policy versions with their
// "version" attr (the first 1000 of each; the counts stay exact).
//
// Subjects are counted from the keyed subject tokens of allowed
// statements, per unit and per tenant: tokens are keyed per tenant, so a
// tenant's distinct subjects are the union of its units'. Denied
// statements released no rows and count for nothing. When an entry lists
// fewer tokens than its subject count (the gateway caps the list), the
// counts are lower bounds, and Statements.IncompleteTokens says how many
// entries did so.
//
// # Coverage over time
//
// Coverage is AUP-6's measure: on day D (UTC), the distinct subjects a
// unit (or tenant) received rows about on days D-29 to D. The report gives
// it for each day of the period on which the log has an entry, so that
// days without activity cost nothing, and counts sightings from the 29
// days before From, so that a day's value doesn't depend on where the
// period starts. The days follow the log's order: a day's value is fixed
// when the first entry of a later day is read, and an entry timed before
// that (concurrent appenders race by microseconds) counts from the next
// value on. Subjects.Peak is the largest value of the period.
//
// # Stored data
//
// Storage attestations carry attrs rows.DATASET and bytes.DATASET. An
// attestation may list some datasets or all; each dataset keeps its latest
// attested value, attestations before the period included. A tenant's
// stored data at the end of a day is the sum over its datasets; the
// growth ratio is the last day's sum over the first day's (of the days in
// the period with an attestation), per dataset and in total: the "three
// times the data in six months" signal.
//
// # Bands
//
// Counts that could single out a case are shown, as providers'
// national-security reports show them, only as the band of width
// [BandWidth] (250) they fall in: exactly 0, or 1–249, 250–499, 500–749, ….
// They are the authorities per kind, the distinct subjects per unit and
// tenant, their peak, and every coverage value; Report.Banding lists them
// by JSON path. Everything else is exact: statements, denials per rule,
// storage, login failures, suspensions and policies are about the
// operator's and the agency's conduct, not about a case.
//
// Bands are presentation, not secrecy: the log itself is public, and its
// tokens let anyone count exactly. They keep the published report from
// pointing at a case at a glance, no more.
//
// # Memory
//
// Compute keeps no entry. What grows is one map entry per distinct subject
// token per scope (an 8-byte key and a 4-byte value: about 30 bytes with
// the map's overhead), one value per scope per reported day, and one small
// record per tenant, unit, rule and dataset. Measured by TestMillion on 2
// cores: 1,000,000 entries over six months, 100,000 subjects seen by 8
// units (791,207 scope-subject pairs), took 10.8 s and at most 24 MB of
// live heap; the entries themselves cost nothing that stays.
package report
