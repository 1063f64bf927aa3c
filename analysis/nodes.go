package analysis

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// knownNodes are the node types PostgreSQL's grammar puts in a raw parse
// tree (taken from the makeNode calls of gram.y and makefuncs.c of the
// vendored parser). The walk visits every node of every type, but only these
// have been reviewed for what they can hide; any other type, such as the
// analysed-tree nodes (Var, Query, FuncExpr) or one added by a newer parser,
// makes the statement unjudged. When pg_query_go is upgraded, review the new
// node types and add them here.
var knownNodes = messageNames(
	(*pg_query.A_ArrayExpr)(nil), (*pg_query.A_Const)(nil), (*pg_query.A_Expr)(nil),
	(*pg_query.A_Indices)(nil), (*pg_query.A_Indirection)(nil), (*pg_query.A_Star)(nil),
	(*pg_query.AccessPriv)(nil), (*pg_query.Alias)(nil), (*pg_query.AlterCollationStmt)(nil),
	(*pg_query.AlterDatabaseRefreshCollStmt)(nil), (*pg_query.AlterDatabaseSetStmt)(nil),
	(*pg_query.AlterDatabaseStmt)(nil), (*pg_query.AlterDefaultPrivilegesStmt)(nil),
	(*pg_query.AlterDomainStmt)(nil), (*pg_query.AlterEnumStmt)(nil),
	(*pg_query.AlterEventTrigStmt)(nil), (*pg_query.AlterExtensionContentsStmt)(nil),
	(*pg_query.AlterExtensionStmt)(nil), (*pg_query.AlterFdwStmt)(nil),
	(*pg_query.AlterForeignServerStmt)(nil), (*pg_query.AlterFunctionStmt)(nil),
	(*pg_query.AlterObjectDependsStmt)(nil), (*pg_query.AlterObjectSchemaStmt)(nil),
	(*pg_query.AlterOpFamilyStmt)(nil), (*pg_query.AlterOperatorStmt)(nil),
	(*pg_query.AlterOwnerStmt)(nil), (*pg_query.AlterPolicyStmt)(nil),
	(*pg_query.AlterPublicationStmt)(nil), (*pg_query.AlterRoleSetStmt)(nil),
	(*pg_query.AlterRoleStmt)(nil), (*pg_query.AlterSeqStmt)(nil), (*pg_query.AlterStatsStmt)(nil),
	(*pg_query.AlterSubscriptionStmt)(nil), (*pg_query.AlterSystemStmt)(nil),
	(*pg_query.AlterTSConfigurationStmt)(nil), (*pg_query.AlterTSDictionaryStmt)(nil),
	(*pg_query.AlterTableCmd)(nil), (*pg_query.AlterTableMoveAllStmt)(nil),
	(*pg_query.AlterTableSpaceOptionsStmt)(nil), (*pg_query.AlterTableStmt)(nil),
	(*pg_query.AlterTypeStmt)(nil), (*pg_query.AlterUserMappingStmt)(nil), (*pg_query.BitString)(nil),
	(*pg_query.BoolExpr)(nil), (*pg_query.Boolean)(nil), (*pg_query.BooleanTest)(nil),
	(*pg_query.CTECycleClause)(nil), (*pg_query.CTESearchClause)(nil), (*pg_query.CallStmt)(nil),
	(*pg_query.CaseExpr)(nil), (*pg_query.CaseWhen)(nil), (*pg_query.CheckPointStmt)(nil),
	(*pg_query.ClosePortalStmt)(nil), (*pg_query.ClusterStmt)(nil), (*pg_query.CoalesceExpr)(nil),
	(*pg_query.CollateClause)(nil), (*pg_query.ColumnDef)(nil), (*pg_query.ColumnRef)(nil),
	(*pg_query.CommentStmt)(nil), (*pg_query.CommonTableExpr)(nil),
	(*pg_query.CompositeTypeStmt)(nil), (*pg_query.Constraint)(nil),
	(*pg_query.ConstraintsSetStmt)(nil), (*pg_query.CopyStmt)(nil), (*pg_query.CreateAmStmt)(nil),
	(*pg_query.CreateCastStmt)(nil), (*pg_query.CreateConversionStmt)(nil),
	(*pg_query.CreateDomainStmt)(nil), (*pg_query.CreateEnumStmt)(nil),
	(*pg_query.CreateEventTrigStmt)(nil), (*pg_query.CreateExtensionStmt)(nil),
	(*pg_query.CreateFdwStmt)(nil), (*pg_query.CreateForeignServerStmt)(nil),
	(*pg_query.CreateForeignTableStmt)(nil), (*pg_query.CreateFunctionStmt)(nil),
	(*pg_query.CreateOpClassItem)(nil), (*pg_query.CreateOpClassStmt)(nil),
	(*pg_query.CreateOpFamilyStmt)(nil), (*pg_query.CreatePLangStmt)(nil),
	(*pg_query.CreatePolicyStmt)(nil), (*pg_query.CreatePublicationStmt)(nil),
	(*pg_query.CreateRangeStmt)(nil), (*pg_query.CreateRoleStmt)(nil),
	(*pg_query.CreateSchemaStmt)(nil), (*pg_query.CreateSeqStmt)(nil),
	(*pg_query.CreateStatsStmt)(nil), (*pg_query.CreateStmt)(nil),
	(*pg_query.CreateSubscriptionStmt)(nil), (*pg_query.CreateTableAsStmt)(nil),
	(*pg_query.CreateTableSpaceStmt)(nil), (*pg_query.CreateTransformStmt)(nil),
	(*pg_query.CreateTrigStmt)(nil), (*pg_query.CreateUserMappingStmt)(nil),
	(*pg_query.CreatedbStmt)(nil), (*pg_query.CurrentOfExpr)(nil), (*pg_query.DeallocateStmt)(nil),
	(*pg_query.DeclareCursorStmt)(nil), (*pg_query.DefElem)(nil), (*pg_query.DefineStmt)(nil),
	(*pg_query.DeleteStmt)(nil), (*pg_query.DiscardStmt)(nil), (*pg_query.DoStmt)(nil),
	(*pg_query.DropOwnedStmt)(nil), (*pg_query.DropRoleStmt)(nil), (*pg_query.DropStmt)(nil),
	(*pg_query.DropSubscriptionStmt)(nil), (*pg_query.DropTableSpaceStmt)(nil),
	(*pg_query.DropUserMappingStmt)(nil), (*pg_query.DropdbStmt)(nil), (*pg_query.ExecuteStmt)(nil),
	(*pg_query.ExplainStmt)(nil), (*pg_query.FetchStmt)(nil), (*pg_query.Float)(nil),
	(*pg_query.FuncCall)(nil), (*pg_query.FunctionParameter)(nil), (*pg_query.GrantRoleStmt)(nil),
	(*pg_query.GrantStmt)(nil), (*pg_query.GroupingFunc)(nil), (*pg_query.GroupingSet)(nil),
	(*pg_query.ImportForeignSchemaStmt)(nil), (*pg_query.IndexElem)(nil), (*pg_query.IndexStmt)(nil),
	(*pg_query.InferClause)(nil), (*pg_query.InsertStmt)(nil), (*pg_query.IntList)(nil),
	(*pg_query.Integer)(nil), (*pg_query.IntoClause)(nil), (*pg_query.JoinExpr)(nil),
	(*pg_query.JsonAggConstructor)(nil), (*pg_query.JsonArgument)(nil), (*pg_query.JsonArrayAgg)(nil),
	(*pg_query.JsonArrayConstructor)(nil), (*pg_query.JsonArrayQueryConstructor)(nil),
	(*pg_query.JsonBehavior)(nil), (*pg_query.JsonFormat)(nil), (*pg_query.JsonFuncExpr)(nil),
	(*pg_query.JsonIsPredicate)(nil), (*pg_query.JsonKeyValue)(nil), (*pg_query.JsonObjectAgg)(nil),
	(*pg_query.JsonObjectConstructor)(nil), (*pg_query.JsonOutput)(nil),
	(*pg_query.JsonParseExpr)(nil), (*pg_query.JsonReturning)(nil), (*pg_query.JsonScalarExpr)(nil),
	(*pg_query.JsonSerializeExpr)(nil), (*pg_query.JsonTable)(nil), (*pg_query.JsonTableColumn)(nil),
	(*pg_query.JsonTablePathSpec)(nil), (*pg_query.JsonValueExpr)(nil), (*pg_query.List)(nil),
	(*pg_query.ListenStmt)(nil), (*pg_query.LoadStmt)(nil), (*pg_query.LockStmt)(nil),
	(*pg_query.LockingClause)(nil), (*pg_query.MergeStmt)(nil), (*pg_query.MergeSupportFunc)(nil),
	(*pg_query.MergeWhenClause)(nil), (*pg_query.MinMaxExpr)(nil), (*pg_query.MultiAssignRef)(nil),
	(*pg_query.NamedArgExpr)(nil), (*pg_query.Node)(nil), (*pg_query.NotifyStmt)(nil),
	(*pg_query.NullTest)(nil), (*pg_query.ObjectWithArgs)(nil), (*pg_query.OidList)(nil),
	(*pg_query.OnConflictClause)(nil), (*pg_query.PLAssignStmt)(nil), (*pg_query.ParamRef)(nil),
	(*pg_query.PartitionBoundSpec)(nil), (*pg_query.PartitionCmd)(nil),
	(*pg_query.PartitionElem)(nil), (*pg_query.PartitionSpec)(nil), (*pg_query.PrepareStmt)(nil),
	(*pg_query.PublicationObjSpec)(nil), (*pg_query.PublicationTable)(nil),
	(*pg_query.RangeFunction)(nil), (*pg_query.RangeSubselect)(nil), (*pg_query.RangeTableFunc)(nil),
	(*pg_query.RangeTableFuncCol)(nil), (*pg_query.RangeTableSample)(nil), (*pg_query.RangeVar)(nil),
	(*pg_query.RawStmt)(nil), (*pg_query.ReassignOwnedStmt)(nil), (*pg_query.RefreshMatViewStmt)(nil),
	(*pg_query.ReindexStmt)(nil), (*pg_query.RenameStmt)(nil), (*pg_query.ReplicaIdentityStmt)(nil),
	(*pg_query.ResTarget)(nil), (*pg_query.ReturnStmt)(nil), (*pg_query.RoleSpec)(nil),
	(*pg_query.RowExpr)(nil), (*pg_query.RuleStmt)(nil), (*pg_query.SQLValueFunction)(nil),
	(*pg_query.SecLabelStmt)(nil), (*pg_query.SelectStmt)(nil), (*pg_query.SetToDefault)(nil),
	(*pg_query.SortBy)(nil), (*pg_query.StatsElem)(nil), (*pg_query.String)(nil),
	(*pg_query.SubLink)(nil), (*pg_query.TableLikeClause)(nil), (*pg_query.TransactionStmt)(nil),
	(*pg_query.TriggerTransition)(nil), (*pg_query.TruncateStmt)(nil), (*pg_query.TypeCast)(nil),
	(*pg_query.TypeName)(nil), (*pg_query.UnlistenStmt)(nil), (*pg_query.UpdateStmt)(nil),
	(*pg_query.VacuumRelation)(nil), (*pg_query.VacuumStmt)(nil), (*pg_query.VariableSetStmt)(nil),
	(*pg_query.VariableShowStmt)(nil), (*pg_query.ViewStmt)(nil), (*pg_query.WindowDef)(nil),
	(*pg_query.WithClause)(nil), (*pg_query.XmlExpr)(nil), (*pg_query.XmlSerialize)(nil))

// ddlStatements are the statements classified as DDL: changes to schema,
// roles, privileges, extensions, foreign servers, replication and the
// server's configuration (LOAD, ALTER SYSTEM).
var ddlStatements = messageNames(
	(*pg_query.AlterCollationStmt)(nil), (*pg_query.AlterDatabaseRefreshCollStmt)(nil),
	(*pg_query.AlterDatabaseSetStmt)(nil), (*pg_query.AlterDatabaseStmt)(nil),
	(*pg_query.AlterDefaultPrivilegesStmt)(nil), (*pg_query.AlterDomainStmt)(nil),
	(*pg_query.AlterEnumStmt)(nil), (*pg_query.AlterEventTrigStmt)(nil),
	(*pg_query.AlterExtensionContentsStmt)(nil), (*pg_query.AlterExtensionStmt)(nil),
	(*pg_query.AlterFdwStmt)(nil), (*pg_query.AlterForeignServerStmt)(nil),
	(*pg_query.AlterFunctionStmt)(nil), (*pg_query.AlterObjectDependsStmt)(nil),
	(*pg_query.AlterObjectSchemaStmt)(nil), (*pg_query.AlterOpFamilyStmt)(nil),
	(*pg_query.AlterOperatorStmt)(nil), (*pg_query.AlterOwnerStmt)(nil),
	(*pg_query.AlterPolicyStmt)(nil), (*pg_query.AlterPublicationStmt)(nil),
	(*pg_query.AlterRoleSetStmt)(nil), (*pg_query.AlterRoleStmt)(nil), (*pg_query.AlterSeqStmt)(nil),
	(*pg_query.AlterStatsStmt)(nil), (*pg_query.AlterSubscriptionStmt)(nil),
	(*pg_query.AlterSystemStmt)(nil), (*pg_query.AlterTSConfigurationStmt)(nil),
	(*pg_query.AlterTSDictionaryStmt)(nil), (*pg_query.AlterTableMoveAllStmt)(nil),
	(*pg_query.AlterTableSpaceOptionsStmt)(nil), (*pg_query.AlterTableStmt)(nil),
	(*pg_query.AlterTypeStmt)(nil), (*pg_query.AlterUserMappingStmt)(nil),
	(*pg_query.CommentStmt)(nil), (*pg_query.CompositeTypeStmt)(nil), (*pg_query.CreateAmStmt)(nil),
	(*pg_query.CreateCastStmt)(nil), (*pg_query.CreateConversionStmt)(nil),
	(*pg_query.CreateDomainStmt)(nil), (*pg_query.CreateEnumStmt)(nil),
	(*pg_query.CreateEventTrigStmt)(nil), (*pg_query.CreateExtensionStmt)(nil),
	(*pg_query.CreateFdwStmt)(nil), (*pg_query.CreateForeignServerStmt)(nil),
	(*pg_query.CreateForeignTableStmt)(nil), (*pg_query.CreateFunctionStmt)(nil),
	(*pg_query.CreateOpClassStmt)(nil), (*pg_query.CreateOpFamilyStmt)(nil),
	(*pg_query.CreatePLangStmt)(nil), (*pg_query.CreatePolicyStmt)(nil),
	(*pg_query.CreatePublicationStmt)(nil), (*pg_query.CreateRangeStmt)(nil),
	(*pg_query.CreateRoleStmt)(nil), (*pg_query.CreateSchemaStmt)(nil),
	(*pg_query.CreateSeqStmt)(nil), (*pg_query.CreateStatsStmt)(nil), (*pg_query.CreateStmt)(nil),
	(*pg_query.CreateSubscriptionStmt)(nil), (*pg_query.CreateTableSpaceStmt)(nil),
	(*pg_query.CreateTransformStmt)(nil), (*pg_query.CreateTrigStmt)(nil),
	(*pg_query.CreateUserMappingStmt)(nil), (*pg_query.CreatedbStmt)(nil),
	(*pg_query.DefineStmt)(nil), (*pg_query.DropOwnedStmt)(nil), (*pg_query.DropRoleStmt)(nil),
	(*pg_query.DropStmt)(nil), (*pg_query.DropSubscriptionStmt)(nil),
	(*pg_query.DropTableSpaceStmt)(nil), (*pg_query.DropUserMappingStmt)(nil),
	(*pg_query.DropdbStmt)(nil), (*pg_query.GrantRoleStmt)(nil), (*pg_query.GrantStmt)(nil),
	(*pg_query.ImportForeignSchemaStmt)(nil), (*pg_query.IndexStmt)(nil), (*pg_query.LoadStmt)(nil),
	(*pg_query.PLAssignStmt)(nil), (*pg_query.ReassignOwnedStmt)(nil), (*pg_query.RenameStmt)(nil),
	(*pg_query.RuleStmt)(nil), (*pg_query.SecLabelStmt)(nil), (*pg_query.ViewStmt)(nil))

func messageNames(msgs ...interface {
	ProtoReflect() protoreflect.Message
}) map[protoreflect.FullName]bool {
	names := make(map[protoreflect.FullName]bool, len(msgs))
	for _, m := range msgs {
		names[m.ProtoReflect().Descriptor().FullName()] = true
	}
	return names
}
