package analysis

import (
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// classify decides the class of a statement node and records the facts that
// belong to the statement as a whole. It runs after the walk, which has
// already found what is nested (data-modifying WITH queries, INTO, ...).
func (w *walker) classify(n *pg_query.Node) Class {
	switch s := n.GetNode().(type) {
	case nil:
		w.unjudged("statement is empty")
		return ClassUnknown

	case *pg_query.Node_SelectStmt:
		switch {
		case w.st.Into:
			w.addHazard(HazardDDL, "SELECT INTO")
			return ClassDDL
		case w.sawDML:
			return ClassWrite // WITH d AS (DELETE ...) SELECT ...
		}
		return ClassRead
	case *pg_query.Node_DeclareCursorStmt:
		// Judged as the read it wraps; its rows come by FETCH.
		w.st.Cursor = s.DeclareCursorStmt.Portalname
		return w.classify(s.DeclareCursorStmt.Query)

	case *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt,
		*pg_query.Node_DeleteStmt, *pg_query.Node_MergeStmt:
		return ClassWrite // the walk recorded the write hazard
	case *pg_query.Node_TruncateStmt:
		w.addHazard(HazardWrite, "TRUNCATE")
		return ClassWrite
	case *pg_query.Node_RefreshMatViewStmt:
		w.addHazard(HazardWrite, "REFRESH MATERIALIZED VIEW "+relName(s.RefreshMatViewStmt.Relation))
		return ClassWrite
	case *pg_query.Node_CallStmt:
		// A procedure's body is not visible here; it may write and commit.
		w.addHazard(HazardWrite, "CALL")
		return ClassWrite
	case *pg_query.Node_DoStmt:
		w.addHazard(HazardDoBlock, "DO")
		w.addHazard(HazardWrite, "DO")
		return ClassWrite

	case *pg_query.Node_CopyStmt:
		return w.copyStmt(s.CopyStmt)

	case *pg_query.Node_CreateTableAsStmt:
		// The walk saw the IntoClause and recorded select_into.
		w.addHazard(HazardDDL, "CREATE "+objType(s.CreateTableAsStmt.Objtype)+" AS")
		return ClassDDL

	case *pg_query.Node_VariableSetStmt:
		w.variableSet(s.VariableSetStmt)
		return ClassSet
	case *pg_query.Node_VariableShowStmt:
		name := lower(s.VariableShowStmt.Name)
		w.st.Setting = &Setting{Name: name, All: name == "all"}
		if w.st.Setting.All {
			w.st.Setting.Name = ""
		}
		return ClassShow

	case *pg_query.Node_TransactionStmt:
		w.transactionOptions(s.TransactionStmt.Options)
		return ClassTransaction
	case *pg_query.Node_ConstraintsSetStmt:
		return ClassTransaction

	case *pg_query.Node_ExplainStmt:
		return w.explain(s.ExplainStmt)
	case *pg_query.Node_PrepareStmt:
		inner := w.classify(s.PrepareStmt.Query)
		w.st.Prepared = &Prepare{Name: s.PrepareStmt.Name, Class: inner}
		return ClassUtility
	case *pg_query.Node_ExecuteStmt:
		return ClassUtility // the walk recorded Prepared
	case *pg_query.Node_DeallocateStmt:
		return ClassUtility
	case *pg_query.Node_FetchStmt:
		w.st.Cursor = s.FetchStmt.Portalname
		return ClassUtility
	case *pg_query.Node_ClosePortalStmt:
		w.st.Cursor = s.ClosePortalStmt.Portalname
		return ClassUtility
	case *pg_query.Node_DiscardStmt:
		if s.DiscardStmt.Target != pg_query.DiscardMode_DISCARD_PLANS &&
			s.DiscardStmt.Target != pg_query.DiscardMode_DISCARD_SEQUENCES &&
			s.DiscardStmt.Target != pg_query.DiscardMode_DISCARD_TEMP {
			// DISCARD ALL resets the session authorization and every setting.
			w.addHazard(HazardSessionAuthorization, "DISCARD ALL")
			w.addHazard(HazardSecuritySetting, "DISCARD ALL")
			w.addHazard(HazardCustodesSetting, "DISCARD ALL")
		}
		return ClassUtility
	case *pg_query.Node_ListenStmt:
		w.addHazard(HazardListenNotify, "LISTEN "+s.ListenStmt.Conditionname)
		return ClassUtility
	case *pg_query.Node_NotifyStmt:
		w.addHazard(HazardListenNotify, "NOTIFY "+s.NotifyStmt.Conditionname)
		return ClassUtility
	case *pg_query.Node_UnlistenStmt:
		return ClassUtility
	case *pg_query.Node_LockStmt:
		w.addHazard(HazardLock, "LOCK")
		return ClassUtility
	case *pg_query.Node_VacuumStmt:
		if s.VacuumStmt.IsVacuumcmd {
			w.addHazard(HazardMaintenance, "VACUUM")
		} else {
			w.addHazard(HazardMaintenance, "ANALYZE")
		}
		return ClassUtility
	case *pg_query.Node_ClusterStmt:
		w.addHazard(HazardMaintenance, "CLUSTER")
		return ClassUtility
	case *pg_query.Node_ReindexStmt:
		w.addHazard(HazardMaintenance, "REINDEX")
		return ClassUtility
	case *pg_query.Node_CheckPointStmt:
		w.addHazard(HazardMaintenance, "CHECKPOINT")
		return ClassUtility
	}

	m := n.ProtoReflect()
	if fd := m.WhichOneof(nodeOneof); fd != nil {
		name := fd.Message().FullName()
		if ddlStatements[name] {
			w.addHazard(HazardDDL, string(fd.Message().Name()))
			return ClassDDL
		}
		w.unjudged("statement kind %s is not recognised", fd.Message().Name())
	}
	return ClassUnknown
}

func (w *walker) copyStmt(cs *pg_query.CopyStmt) Class {
	target := "STDOUT"
	if cs.IsFrom {
		target = "STDIN"
	}
	switch {
	case cs.IsProgram:
		target = "PROGRAM " + cs.Filename
		w.addHazard(HazardCopyProgram, cs.Filename)
	case cs.Filename != "":
		target = "file " + cs.Filename
		w.addHazard(HazardCopyFile, cs.Filename)
	}
	if cs.IsFrom {
		w.addHazard(HazardCopyFrom, target)
		w.addHazard(HazardWrite, "COPY "+relName(cs.Relation)+" FROM")
		return ClassCopyIn
	}
	w.addHazard(HazardCopyTo, target)
	return ClassCopyOut
}

func (w *walker) explain(e *pg_query.ExplainStmt) Class {
	analyze := false
	for _, o := range e.Options {
		d := o.GetDefElem()
		if d == nil {
			w.unjudged("EXPLAIN option is not understood")
			continue
		}
		if lower(d.Defname) == "analyze" && defBool(d) {
			analyze = true
		}
	}
	inner := w.classify(e.Query)
	if analyze {
		// EXPLAIN ANALYZE runs the statement and reports real row counts.
		w.addHazard(HazardExplain, "EXPLAIN ANALYZE")
		return inner
	}
	// A plan reveals row estimates drawn from the catalog statistics.
	w.addHazard(HazardExplain, "EXPLAIN")
	return ClassUtility
}

// defBool reads a boolean option as PostgreSQL's defGetBoolean does, taking
// anything it cannot read as true, since true is the dangerous side.
func defBool(d *pg_query.DefElem) bool {
	if d.Arg == nil {
		return true
	}
	if b := d.Arg.GetBoolean(); b != nil {
		return b.Boolval
	}
	if i := d.Arg.GetInteger(); i != nil {
		return i.Ival != 0
	}
	if s, ok := constString(d.Arg); ok {
		return !isOff(s)
	}
	if s := d.Arg.GetString_(); s != nil {
		return !isOff(s.Sval)
	}
	return true
}

func isOff(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "off", "false", "no", "0", "of", "f", "fa", "fal", "fals", "n":
		return true
	}
	return false
}

func (w *walker) variableSet(v *pg_query.VariableSetStmt) {
	name := lower(v.Name)
	s := &Setting{Name: name, Local: v.IsLocal}
	w.st.Setting = s
	switch v.Kind {
	case pg_query.VariableSetKind_VAR_SET_VALUE:
		s.Value = w.settingValue(v.Args)
		w.settingHazards(name, s.Value, false)
	case pg_query.VariableSetKind_VAR_SET_DEFAULT, pg_query.VariableSetKind_VAR_RESET:
		s.Reset = true
		w.settingHazards(name, "", true)
	case pg_query.VariableSetKind_VAR_SET_CURRENT:
		w.settingHazards(name, "", true)
	case pg_query.VariableSetKind_VAR_RESET_ALL:
		s.Name, s.Reset, s.All = "", true, true
		w.addHazard(HazardSecuritySetting, "RESET ALL")
		w.addHazard(HazardCustodesSetting, "RESET ALL")
	case pg_query.VariableSetKind_VAR_SET_MULTI:
		if name == "transaction snapshot" {
			s.Value = w.settingValue(v.Args)
			return
		}
		// SET TRANSACTION ..., SET SESSION CHARACTERISTICS AS TRANSACTION ...
		var parts []string
		for _, a := range v.Args {
			d := a.GetDefElem()
			if d == nil {
				w.unjudged("SET %s item is not understood", v.Name)
				continue
			}
			val, _ := constString(d.Arg)
			parts = append(parts, d.Defname+"="+val)
		}
		s.Value = strings.Join(parts, ", ")
		w.transactionOptions(v.Args)
	default:
		w.unjudged("SET of kind %s is not understood", v.Kind)
	}
}

// settingValue renders SET's arguments as PostgreSQL would pass them on.
func (w *walker) settingValue(args []*pg_query.Node) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		val, ok := constString(a)
		if !ok {
			w.unjudged("SET value is not a constant")
			continue
		}
		parts = append(parts, val)
	}
	return strings.Join(parts, ", ")
}

// transactionOptions flags READ WRITE, which lifts a read-only default.
func (w *walker) transactionOptions(opts []*pg_query.Node) {
	for _, o := range opts {
		d := o.GetDefElem()
		if d == nil {
			w.unjudged("transaction option is not understood")
			continue
		}
		if d.Defname != "transaction_read_only" {
			continue
		}
		if v, ok := constString(d.Arg); !ok || v == "0" || isOff(v) {
			w.addHazard(HazardSecuritySetting, "READ WRITE")
		}
	}
}

func objType(t pg_query.ObjectType) string {
	if t == pg_query.ObjectType_OBJECT_MATVIEW {
		return "MATERIALIZED VIEW"
	}
	return "TABLE"
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }
