package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// value is a flag.Value that writes into one Config field. The same Set
// parses a flag, an environment variable and a YAML scalar, so all three
// sources accept exactly the same syntax.
type value interface {
	Set(string) error
	String() string
	// field returns the pointer to the Config field; tests use it to prove
	// every field is bound.
	field() any
}

type stringValue struct{ p *string }

func (v stringValue) Set(s string) error { *v.p = s; return nil }
func (v stringValue) String() string     { return *v.p }
func (v stringValue) field() any         { return v.p }

type boolValue struct{ p *bool }

func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("invalid boolean %q (want true or false)", s)
	}
	*v.p = b
	return nil
}

func (v boolValue) String() string   { return strconv.FormatBool(*v.p) }
func (v boolValue) field() any       { return v.p }
func (v boolValue) IsBoolFlag() bool { return true }

type durationValue struct{ p *time.Duration }

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (want a number with a unit, e.g. 90s, 2m, 1h)", s)
	}
	*v.p = d
	return nil
}

func (v durationValue) String() string { return formatDuration(*v.p) }
func (v durationValue) field() any     { return v.p }

// formatDuration drops the zero tails of time.Duration.String ("1h0m0s" →
// "1h") so printed configs read the way people write them.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

type intValue[T int | int64] struct{ p *T }

func (v intValue[T]) Set(s string) error {
	var zero T
	n, err := strconv.ParseInt(s, 10, bitSize(zero))
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("integer %q out of range", s)
	}
	if err != nil {
		return fmt.Errorf("invalid integer %q", s)
	}
	*v.p = T(n)
	return nil
}

func (v intValue[T]) String() string { return strconv.FormatInt(int64(*v.p), 10) }
func (v intValue[T]) field() any     { return v.p }

func bitSize(x any) int {
	if _, ok := x.(int); ok {
		return strconv.IntSize
	}
	return 64
}

// listValue holds a list of multiaddrs. The first Set on a listValue
// replaces the list (a flag given replaces the default, it does not add to
// it); later Sets append, so a flag can be repeated. Each Set also takes a
// comma-separated list, which is how an environment variable carries one.
type listValue struct {
	p     *[]string
	check func(string) error
	set   bool
}

func (v *listValue) Set(s string) error {
	if !v.set {
		*v.p, v.set = []string{}, true
	}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		if err := v.check(item); err != nil {
			return err
		}
		*v.p = append(*v.p, item)
	}
	return nil
}

// replace sets the list from a YAML sequence, where items are never split.
func (v *listValue) replace(items []string) error {
	for _, item := range items {
		if err := v.check(item); err != nil {
			return err
		}
	}
	*v.p, v.set = items, true
	return nil
}

func (v *listValue) String() string { return strings.Join(*v.p, ",") }
func (v *listValue) field() any     { return v.p }
