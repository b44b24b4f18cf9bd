//go:build race

package main

// The binary the tests run is built with the race detector too: it finds
// races in the commands, and the build reuses the packages the test binary
// was just compiled from instead of compiling every one again.
func init() { buildFlags = append(buildFlags, "-race") }
