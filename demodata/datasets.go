package demodata

// A Dataset is one table of the demo data as the gateway registers it.
type Dataset struct {
	// Table is the schema-qualified table name, such as "public.persons".
	Table string
	// SubjectKey is the column that identifies the person a row is about,
	// or "" for reference data that is about no one.
	SubjectKey string
	// Category is one of the design's dataset categories ("identity", "location", …).
	Category string
	// Protected lists the columns that may not be selected, filtered, grouped or joined on.
	Protected []string
}

// Datasets returns the demo's datasets. The slice is new on every call, so callers may keep or change it.
func Datasets() []Dataset {
	return []Dataset{
		{Table: "public.persons", SubjectKey: "person_id", Category: "identity", Protected: []string{"religion", "ethnicity"}},
		{Table: "public.addresses", Category: "reference"},
		{Table: "public.location_pings", SubjectKey: "person_id", Category: "location"},
		{Table: "public.utility_accounts", SubjectKey: "person_id", Category: "financial"},
		{Table: "public.social_posts", SubjectKey: "person_id", Category: "speech"},
		{Table: "public.case_files", SubjectKey: "person_id", Category: "case"},
	}
}
