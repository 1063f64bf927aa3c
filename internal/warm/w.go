package main

import (
	_ "filippo.io/age"
	_ "github.com/cedar-policy/cedar-go"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/pgproto3"
	_ "github.com/pganalyze/pg_query_go/v6"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/transparency-dev/tessera"
	_ "github.com/transparency-dev/tessera/client"
	_ "github.com/transparency-dev/tessera/storage/posix"
	_ "github.com/xdg-go/scram"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/mod/sumdb/note"
)

func main() {}
