// Package policy is the acceptable-use policy (AUP) as code, written in
// Cedar, and the decision on every analysed statement.
//
// The gateway analyses a statement into a [Request] (the facts), asks
// [Policy.Decide], and carries out the [Decision]: run the statement, release
// its rows, or answer with an error that names the first of Decision.Rules.
// Every statement is judged twice: in [PhaseStatement] before it runs, and in
// [PhaseResult] once the backend produced its rows and before any is
// released, with the result's distinct subjects and the coverage they bring.
//
//	p := policy.Default() // or policy.Load(text) from the configured file
//	d := p.Decide(&policy.Request{Phase: policy.PhaseStatement, …})
//	if !d.Allow { deny(d.Rules[0], d.Err) }
//
// # Deny by default
//
// A request is allowed only if some permit applies, no forbid applies and
// the policy evaluated without error. Otherwise Decision.Rules names every
// rule with a forbid that applied; when none did (nothing permitted), or when
// evaluation failed, it names the policy's fallback rule — AUP-9, "not judged
// lawful", in the default policy. A policy text that does not load is an
// error from [Load], and the gateway must then refuse to start.
//
// # Rule ids come from the policy text
//
// The default policy is embedded (default.cedar, also returned by
// [Policy.Text]). Each rule is one or more Cedar forbids annotated with it:
//
//	@id("aup-7-class")                    // Cedar policy id, unique (optional)
//	@rule("AUP-7")                        // the rule this forbid enforces (required)
//	@title("export or side channel")      // the rule's title (on at least one of its forbids)
//	forbid (principal, action, resource)
//	when { ["write", "ddl", "copy_out", "copy_in"].contains(context.class) };
//
// Exactly one rule carries @fallback on one of its forbids: it is the rule
// that names denials nobody else named. Rule ids in decisions, logs and
// reports are read from these annotations only; this package has no rule
// ids of its own. [Policy.Hash] is the version logged when a policy takes
// effect.
//
// # The Cedar request
//
// Principal is Analyst::"<Request.Analyst>", resource is
// Tenant::"<Request.Tenant>", action is Action::"statement" or
// Action::"result" by phase. There are no entities; every fact is in the
// context:
//
//	tenant, unit, analyst    String
//	suspended                Bool    Request.Suspended
//	class                    String  Request.Class
//	unjudged                 Set<String>
//	datasets                 Set<String>  names of every relation touched
//	unregistered             Set<String>  names of those not registered
//	person_level             Set<String>  names of those with a subject key
//	categories               Set<String>  their categories (identity, location, …)
//	protected_columns        Set<String>
//	whole_row                Bool
//	subject_predicate        Bool
//	place_or_time_predicate  Bool
//	hazards                  Set<String>
//	authority                Record, absent without an authority:
//	    id, kind, unit       String
//	    datasets             Set<String>  "*" stands for every dataset
//	    lists_subjects       Bool
//	    subjects             Long  how many are listed
//	    max_subjects         Long
//	    active               Bool  within its window and not revoked
//	result_subjects          Long  0 in the statement phase
//	coverage                 Record {unit_subjects, unit_cap, tenant_subjects, tenant_cap: Long}; cap 0 = none
//
// Cedar has no quantifiers over sets, so the datasets are given as sets of
// names (unregistered, person_level) rather than a set of records: "every
// person-level dataset is in the authority" is then
// authority.datasets.containsAll(person_level).
//
// # The default policy
//
// Reads are permitted, and set/show/transaction/utility/empty statements that
// touch no dataset; everything else falls to AUP-9. Every rule is checked in
// both phases, so an authority revoked or a unit suspended while a statement
// ran withholds its rows; AUP-3 needs result facts and applies only to the
// result. AUP-6 compares coverage with its cap strictly (over the cap, not at
// it): before execution a unit already over its cap gets no person-level
// statement, and a unit exactly at its cap may still query subjects it has
// already seen, since the result phase stops anything new.
//
// # Policy tests
//
// [RunTests] runs a YAML table of requests and expected decisions, for
// people who change the policy; examples/policy-test.yaml covers every rule
// of the default one.
package policy
