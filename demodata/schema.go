package demodata

// tablesDDL creates the tables with their primary keys only. Foreign keys and secondary
// indexes come after the load (see constraintsDDL), which is much faster than maintaining
// them row by row.
var tablesDDL = []string{
	`CREATE TABLE IF NOT EXISTS public.addresses (
		address_id  bigint PRIMARY KEY,
		street      text NOT NULL,
		city        text NOT NULL,
		postal_code text NOT NULL,
		lat         double precision NOT NULL,
		lon         double precision NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS public.persons (
		person_id          bigint PRIMARY KEY,
		full_name          text NOT NULL,
		date_of_birth      date NOT NULL,
		nationality        text NOT NULL,
		immigration_status text NOT NULL,
		address_id         bigint NOT NULL,
		religion           text NOT NULL,
		ethnicity          text NOT NULL,
		phone              text NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS public.location_pings (
		ping_id     bigint PRIMARY KEY,
		person_id   bigint NOT NULL,
		observed_at timestamptz NOT NULL,
		lat         double precision NOT NULL,
		lon         double precision NOT NULL,
		source      text NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS public.utility_accounts (
		account_id bigint PRIMARY KEY,
		person_id  bigint NOT NULL,
		address_id bigint NOT NULL,
		provider   text NOT NULL,
		opened_on  date NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS public.social_posts (
		post_id   bigint PRIMARY KEY,
		person_id bigint NOT NULL,
		posted_at timestamptz NOT NULL,
		topic     text NOT NULL,
		body      text NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS public.case_files (
		case_id   text PRIMARY KEY,
		person_id bigint NOT NULL,
		opened_on date NOT NULL,
		status    text NOT NULL,
		officer   text NOT NULL
	)`,
}

// A foreignKey is added unless a constraint of its name already exists on its table:
// ALTER TABLE has no ADD CONSTRAINT IF NOT EXISTS.
type foreignKey struct{ table, name, column, references string }

var foreignKeys = []foreignKey{
	{"persons", "persons_address_id_fkey", "address_id", "addresses"},
	{"location_pings", "location_pings_person_id_fkey", "person_id", "persons"},
	{"utility_accounts", "utility_accounts_person_id_fkey", "person_id", "persons"},
	{"utility_accounts", "utility_accounts_address_id_fkey", "address_id", "addresses"},
	{"social_posts", "social_posts_person_id_fkey", "person_id", "persons"},
	{"case_files", "case_files_person_id_fkey", "person_id", "persons"},
}

var indexesDDL = []string{
	`CREATE INDEX IF NOT EXISTS location_pings_person_id_idx ON public.location_pings (person_id)`,
	`CREATE INDEX IF NOT EXISTS location_pings_observed_at_idx ON public.location_pings (observed_at)`,
	`CREATE INDEX IF NOT EXISTS utility_accounts_person_id_idx ON public.utility_accounts (person_id)`,
	`CREATE INDEX IF NOT EXISTS social_posts_person_id_idx ON public.social_posts (person_id)`,
	`CREATE INDEX IF NOT EXISTS case_files_person_id_idx ON public.case_files (person_id)`,
}
