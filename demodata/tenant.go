package demodata

import (
	"github.com/custodes/custodes/config"
	"github.com/custodes/custodes/scram"
)

// Units are the demo tenant's units and their analysts (DESIGN.md: newark
// with alice and bob, houston with carol; each password equals the name),
// with SCRAM-SHA-256 verifiers, as custodes.yaml registers them.
func Units() ([]config.Unit, error) {
	var units []config.Unit
	for _, u := range []struct {
		name     string
		analysts []string
	}{{"newark", []string{"alice", "bob"}}, {"houston", []string{"carol"}}} {
		unit := config.Unit{Name: u.name}
		for _, a := range u.analysts {
			v, err := scram.Hash(a)
			if err != nil {
				return nil, err
			}
			unit.Analysts = append(unit.Analysts, config.Analyst{Name: a, SCRAM: v})
		}
		units = append(units, unit)
	}
	return units, nil
}

// ConfigDatasets are Datasets as custodes.yaml registers them.
func ConfigDatasets() []config.Dataset {
	var out []config.Dataset
	for _, d := range Datasets() {
		out = append(out, config.Dataset{Table: d.Table, SubjectKey: d.SubjectKey, Category: d.Category, Protected: d.Protected})
	}
	return out
}
