//go:build !faults

package faultpoint

// Hit does nothing: this build has no fault points.
func Hit(string) {}
