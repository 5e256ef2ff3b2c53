package config

import (
	"reflect"
	"strings"

	"github.com/cpra-agent/cpra-agent/internal/spec"
)

// badFields are the fields of a raw* value that failed to decode, keyed by
// the field's address. Their decode error is the only one reported: no
// check runs on the zero value the decoder left behind. Validators ask by
// address (l.bad.has(&rp.Interval)), so renaming a field or its YAML key
// cannot silently disconnect the question from the answer: the first does
// not compile, the second is followed by the tags.
type badFields map[any]bool

// has reports whether the field at ptr failed to decode.
func (b badFields) has(ptr any) bool { return b[ptr] }

// findBadFields resolves the field path of each decode error (as spec
// reports it, "pulse_check.interval") through raw's `yaml` tags. raw is a
// pointer to the struct decoded. Paths into lists or maps ("groups[1]")
// name no field of their own and are left out.
func findBadFields(raw any, decodeErr error) badFields {
	var out badFields
	for _, e := range spec.Flatten(decodeErr) {
		se, ok := e.(*spec.Error)
		if !ok {
			continue
		}
		if f, ok := fieldAt(reflect.ValueOf(raw).Elem(), se.Field); ok {
			if out == nil {
				out = badFields{}
			}
			out[f.Addr().Interface()] = true
		}
	}
	return out
}

// fieldAt follows path, one `yaml` tag per dot, from the struct v.
func fieldAt(v reflect.Value, path string) (reflect.Value, bool) {
	if path == "" {
		return reflect.Value{}, false
	}
	for seg := range strings.SplitSeq(path, ".") {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		f, ok := fieldByTag(v, seg)
		if !ok {
			return reflect.Value{}, false
		}
		v = f
	}
	return v, true
}

func fieldByTag(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}
