// Package archtest holds no code: its test enforces the architecture
// mechanically (imports that must not exist), so the package map in the
// design cannot drift unnoticed.
package archtest
