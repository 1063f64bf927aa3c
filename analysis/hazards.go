package analysis

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// These tables are a floor, not a ceiling: they name the functions,
// relations and settings of PostgreSQL (15 to 17) and common extensions that
// open an export or side channel, so a denial can say why. The gateway must
// still allow only the functions and relations it knows to be harmless.
// Names are matched in lower case and without their schema, so
// pg_catalog.pg_read_file and a quoted "PG_READ_FILE" are both caught.

// functionKinds maps a function name to its hazard kind.
var functionKinds = map[string]string{
	// Functions that run SQL given as text, or dump whole tables or
	// schemas, past the analysis of the statement that calls them.
	"query_to_xml":                  HazardSQLTextFunction,
	"query_to_xmlschema":            HazardSQLTextFunction,
	"query_to_xml_and_xmlschema":    HazardSQLTextFunction,
	"cursor_to_xml":                 HazardSQLTextFunction,
	"cursor_to_xmlschema":           HazardSQLTextFunction,
	"table_to_xml":                  HazardSQLTextFunction,
	"table_to_xmlschema":            HazardSQLTextFunction,
	"table_to_xml_and_xmlschema":    HazardSQLTextFunction,
	"schema_to_xml":                 HazardSQLTextFunction,
	"schema_to_xmlschema":           HazardSQLTextFunction,
	"schema_to_xml_and_xmlschema":   HazardSQLTextFunction,
	"database_to_xml":               HazardSQLTextFunction,
	"database_to_xmlschema":         HazardSQLTextFunction,
	"database_to_xml_and_xmlschema": HazardSQLTextFunction,
	"ts_stat":                       HazardSQLTextFunction, // ts_stat('SELECT ...')
	"pg_background_launch":          HazardSQLTextFunction,

	"pg_read_file":        HazardFileFunction,
	"pg_read_binary_file": HazardFileFunction,
	"pg_stat_file":        HazardFileFunction,
	"pg_current_logfile":  HazardFileFunction,
	"pg_file_write":       HazardFileFunction,
	"pg_file_rename":      HazardFileFunction,
	"pg_file_unlink":      HazardFileFunction,
	"pg_file_sync":        HazardFileFunction,
	"pg_logdir_ls":        HazardFileFunction,
	"lo_import":           HazardFileFunction, // and large_object, by prefix
	"lo_export":           HazardFileFunction,

	"loread":  HazardLargeObject,
	"lowrite": HazardLargeObject,

	"postgres_fdw_get_connections": HazardNetwork,
	"postgres_fdw_disconnect":      HazardNetwork,
	"postgres_fdw_disconnect_all":  HazardNetwork,
	"http":                         HazardNetwork,

	"pg_notify": HazardListenNotify,

	"nextval": HazardWrite,
	"setval":  HazardWrite,

	"pg_terminate_backend":             HazardAdminFunction,
	"pg_cancel_backend":                HazardAdminFunction,
	"pg_reload_conf":                   HazardAdminFunction,
	"pg_rotate_logfile":                HazardAdminFunction,
	"pg_promote":                       HazardAdminFunction,
	"pg_switch_wal":                    HazardAdminFunction,
	"pg_create_restore_point":          HazardAdminFunction,
	"pg_start_backup":                  HazardAdminFunction,
	"pg_stop_backup":                   HazardAdminFunction,
	"pg_drop_replication_slot":         HazardAdminFunction,
	"pg_replication_slot_advance":      HazardAdminFunction,
	"pg_log_backend_memory_contexts":   HazardAdminFunction,
	"pg_import_system_collations":      HazardAdminFunction,
	"pg_export_snapshot":               HazardAdminFunction,
	"pg_stat_statements_reset":         HazardAdminFunction,
	"pg_sync_replication_slots":        HazardAdminFunction,
	"pg_stat_get_activity":             HazardCatalogStatistics, // other sessions' SQL
	"pg_stat_get_backend_activity":     HazardCatalogStatistics,
	"pg_stat_statements":               HazardCatalogStatistics,
	"pg_stat_statements_info":          HazardCatalogStatistics,
	"pg_get_multixact_members":         HazardAdminFunction,
	"pg_advisory_lock":                 HazardLock,
	"pg_advisory_xact_lock":            HazardLock,
	"pg_advisory_lock_shared":          HazardLock,
	"pg_advisory_xact_lock_shared":     HazardLock,
	"pg_try_advisory_lock":             HazardLock,
	"pg_try_advisory_xact_lock":        HazardLock,
	"pg_try_advisory_lock_shared":      HazardLock,
	"pg_try_advisory_xact_lock_shared": HazardLock,
}

// functionPrefixes catch families of functions.
var functionPrefixes = []struct{ prefix, kind string }{
	{"pg_ls_", HazardFileFunction}, // pg_ls_dir, pg_ls_logdir, pg_ls_waldir, ...
	{"pg_read_", HazardFileFunction},
	{"lo_", HazardLargeObject},
	{"dblink", HazardNetwork},
	{"http_", HazardNetwork},
	{"pg_stat_reset", HazardAdminFunction},
	{"pg_replication_origin_", HazardAdminFunction},
	{"pg_logical_", HazardAdminFunction}, // pg_logical_slot_get_changes reads every change
	{"pg_create_", HazardAdminFunction},  // replication slots
	{"pg_copy_", HazardAdminFunction},    // replication slots
	{"pg_wal_replay_", HazardAdminFunction},
	{"pg_backup_", HazardAdminFunction},
	{"pg_signal_", HazardAdminFunction},
}

// relationHazards are relations that expose column values (the most common
// values and histograms of pg_stats) or other sessions' SQL text.
var relationHazards = map[string]string{
	"pg_stats":                HazardCatalogStatistics,
	"pg_stats_ext":            HazardCatalogStatistics,
	"pg_stats_ext_exprs":      HazardCatalogStatistics,
	"pg_statistic":            HazardCatalogStatistics,
	"pg_statistic_ext":        HazardCatalogStatistics,
	"pg_statistic_ext_data":   HazardCatalogStatistics,
	"pg_stat_activity":        HazardCatalogStatistics,
	"pg_stat_statements":      HazardCatalogStatistics,
	"pg_stat_statements_info": HazardCatalogStatistics,
}

// rowFunctions are the functions PostgreSQL 15 to 17 will apply to a whole
// row written in attribute notation: p.to_json means to_json(p) when p has no
// column to_json. From pg_proc: one argument of type record, "any",
// anyelement, anynonarray, anycompatible or anycompatiblenonarray.
var rowFunctions = map[string]bool{
	"any_out": true, "anycompatible_out": true, "anycompatiblenonarray_out": true,
	"anyelement_out": true, "anynonarray_out": true, "any_value": true,
	"array_agg": true, "concat": true, "count": true, "cume_dist": true,
	"dense_rank": true, "hash_record": true, "hstore": true, "json_agg": true,
	"json_agg_strict": true, "json_build_array": true, "json_build_object": true,
	"jsonb_agg": true, "jsonb_agg_strict": true, "jsonb_build_array": true,
	"jsonb_build_object": true, "mode": true, "num_nonnulls": true,
	"num_nulls": true, "percent_rank": true, "pg_collation_for": true,
	"pg_column_compression": true, "pg_column_size": true,
	"pg_column_toast_chunk_id": true, "pg_typeof": true, "quote_literal": true,
	"quote_nullable": true, "rank": true, "record_out": true, "record_send": true,
	"row_to_json": true, "to_json": true, "to_jsonb": true,
}

// securitySettings weaken row-level security, change which objects a name
// resolves to, change the role, lift read-only mode, hide activity from the
// server's logs and auditing, or load code.
var securitySettings = map[string]bool{
	"row_security":                  true,
	"search_path":                   true,
	"session_replication_role":      true, // "replica" disables triggers and rules
	"default_transaction_read_only": true,
	"transaction_read_only":         true,
	"backslash_quote":               true,
	"lo_compat_privileges":          true,
	"allow_system_table_mods":       true,
	"ignore_system_indexes":         true,
	"zero_damaged_pages":            true,
	"session_preload_libraries":     true,
	"local_preload_libraries":       true,
	"dynamic_library_path":          true,
	"jit_provider":                  true,
}

var securitySettingPrefixes = []string{"log_", "track_", "debug_", "pgaudit.", "anon.", "sepgsql."}

// functionHazards reports the hazards of calling the function name, whose
// last part folded to lower case is last.
func (w *walker) functionHazards(name, last string, fc *pg_query.FuncCall) {
	if kind, ok := functionKinds[last]; ok {
		w.addHazard(kind, name)
	}
	for _, p := range functionPrefixes {
		if strings.HasPrefix(last, p.prefix) {
			w.addHazard(p.kind, name)
		}
	}
	switch last {
	case "ts_rewrite":
		// ts_rewrite(query, 'SELECT target, substitute FROM ...') runs SQL.
		if len(fc.Args) == 2 {
			w.addHazard(HazardSQLTextFunction, name)
		}
	case "set_config":
		w.addHazard(HazardAdminFunction, name)
		w.setConfig(name, fc)
	}
}

// setConfig judges set_config(setting, value, is_local) like a SET, except
// that custodes.authority is never the gateway's to set this way.
func (w *walker) setConfig(name string, fc *pg_query.FuncCall) {
	setting, ok := "", false
	if len(fc.Args) > 0 {
		setting, ok = constString(fc.Args[0])
	}
	if !ok {
		// A name computed at run time could be any setting.
		detail := name + "(<expression>)"
		w.addHazard(HazardCustodesSetting, detail)
		w.addHazard(HazardSecuritySetting, detail)
		w.addHazard(HazardSetRole, detail)
		w.addHazard(HazardSessionAuthorization, detail)
		return
	}
	value, known := "", false
	if len(fc.Args) > 1 {
		value, known = constString(fc.Args[1])
	}
	setting = lower(setting)
	if setting == "custodes.authority" {
		w.addHazard(HazardCustodesSetting, setting)
		return
	}
	if !known {
		value = "<expression>"
	}
	w.settingHazards(setting, value, false)
}

// settingHazards reports the hazards of setting name to value (or resetting
// it). custodes.authority is left to the gateway.
func (w *walker) settingHazards(name, value string, reset bool) {
	switch {
	case name == "role":
		w.addHazard(HazardSetRole, name)
	case name == "session_authorization":
		w.addHazard(HazardSessionAuthorization, name)
	case name == "custodes.authority":
	case strings.HasPrefix(name, "custodes."):
		w.addHazard(HazardCustodesSetting, name)
	case securitySettings[name]:
		w.addHazard(HazardSecuritySetting, name)
	case name == "client_encoding":
		// In a client-only encoding such as SJIS or GBK a multi-byte
		// character can end in a quote or backslash byte: the backend would
		// read other statements than the parser here, which reads UTF-8.
		if !reset && !isUTF8Name(value) {
			w.addHazard(HazardSecuritySetting, name)
		}
	case name == "standard_conforming_strings":
		// Off, backslashes escape quotes in '...': another lexing than ours.
		if !reset && !isOn(value) {
			w.addHazard(HazardSecuritySetting, name)
		}
	default:
		for _, p := range securitySettingPrefixes {
			if strings.HasPrefix(name, p) {
				w.addHazard(HazardSecuritySetting, name)
				break
			}
		}
	}
}

func isUTF8Name(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "utf8", "utf-8", "unicode":
		return true
	}
	return false
}

func isOn(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true", "yes", "1", "tru", "tr", "t", "ye", "y":
		return true
	}
	return false
}

// constString is the text of a constant argument: a literal, possibly cast
// ('role'::text). Anything else is not constant.
func constString(n *pg_query.Node) (string, bool) {
	if tc := n.GetTypeCast(); tc != nil {
		return constString(tc.Arg)
	}
	c := n.GetAConst()
	if c == nil || c.Isnull {
		return "", false
	}
	switch v := c.Val.(type) {
	case *pg_query.A_Const_Sval:
		return v.Sval.GetSval(), true
	case *pg_query.A_Const_Ival:
		return itoa(v.Ival.GetIval()), true
	case *pg_query.A_Const_Fval:
		return v.Fval.GetFval(), true
	case *pg_query.A_Const_Boolval:
		if v.Boolval.GetBoolval() {
			return "true", true
		}
		return "false", true
	case *pg_query.A_Const_Bsval:
		return v.Bsval.GetBsval(), true
	}
	return "", false
}
