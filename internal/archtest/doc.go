// Package archtest holds the tests of the rules between the module's
// packages (ARCHITECTURE.md): what the production binaries may import.
// It has no code of its own; `make lint` runs its tests.
package archtest
