// Package meshtest is for tests of the mesh and of what runs on it: Dir, a
// mesh.Directory a test fills by hand where a fleet would publish node
// addresses through Redis heartbeats. A test may point a node at a proxy
// instead of its listener, to cut the link.
package meshtest
