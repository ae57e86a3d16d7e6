// Package storetest is the one test suite every reservation.Store passes.
package storetest
