// Command custodes is a PostgreSQL-wire gateway that lets analysts reach
// person-level data only under a legal authority, stops mass surveillance,
// and records every decision in a public transparency log.
//
// Run `custodes help` for the commands.
package main

import (
	"os"

	"github.com/custodes/custodes/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
