package main
import (
 _ "github.com/pganalyze/pg_query_go/v6"
 _ "github.com/jackc/pgx/v5/pgproto3"
 _ "github.com/jackc/pgx/v5"
 _ "github.com/transparency-dev/tessera"
 _ "github.com/transparency-dev/tessera/storage/posix"
 _ "github.com/transparency-dev/tessera/client"
 _ "github.com/cedar-policy/cedar-go"
 _ "golang.org/x/mod/sumdb/note"
 _ "filippo.io/age"
 _ "github.com/xdg-go/scram"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "go.yaml.in/yaml/v3"
 _ "github.com/schollz/progressbar/v3"
 _ "github.com/rogpeppe/go-internal/testscript"
)
func main(){}
