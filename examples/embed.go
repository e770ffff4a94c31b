// Package examples holds the shipped example config, embedded so that the
// launcher CLI runs it when no config is given. The demo program is in
// examples/demo.
package examples

import _ "embed"

// DemoTOML is examples/demo.toml.
//
//go:embed demo.toml
var DemoTOML []byte
