// Package demodata creates the synthetic person-level dataset that the custodes demo governs.
//
// The data lives in schema public of the demo's agency database, in six tables:
// persons (identity; religion and ethnicity are protected), addresses (reference),
// location_pings (location), utility_accounts (financial), social_posts (speech) and
// case_files (case). [Datasets] describes them the way the gateway's configuration
// registers them, and [Create] makes the tables and loads them:
//
//	loaded, err := demodata.Create(ctx, conn, 100000, func(done, total int64) { bar.Set64(done) })
//
// Nothing here is real. Every name, street, coordinate and post is drawn from a PCG
// generator with a fixed seed, one stream per table and row key, so the same number of
// persons always yields byte-identical tables, whatever the day or the machine. Timestamps
// are measured back from a fixed reference instant, 2025-06-01T00:00:00Z: location pings
// fall in the 90 days before it, posts in the two years before it.
//
// Person ids run from 1 to n. Every person has 3–8 location pings; about 85% have a
// utility account, about 10% have social posts and about 3% have case files. Persons
// 101, 102, 103 and 2001 (the subjects of the demo's warrants) have rows in every table.
// There are n/2 addresses, spread over a few dozen US cities, Newark and Houston weighted
// heaviest because the demo's units sit there.
package demodata
