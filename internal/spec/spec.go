package spec

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is one problem in a configuration block.
type Error struct {
	Line  int    // 1-based line in the file, 0 when unknown
	Field string // dotted path relative to the block, empty for the block itself
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Prefix returns err with every *Error's field path prefixed by prefix (for
// example "pulse_check.config"). Errors of other types are returned unchanged.
func Prefix(prefix string, err error) error {
	if err == nil || prefix == "" {
		return err
	}
	var out []error
	for _, e := range Flatten(err) {
		var se *Error
		if errors.As(e, &se) {
			c := *se
			if c.Field == "" {
				c.Field = prefix
			} else {
				c.Field = prefix + "." + c.Field
			}
			out = append(out, &c)
			continue
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// Flatten unwraps errors.Join trees into a flat list.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// Duration is a time.Duration that decodes from Go duration strings ("30s",
// "1m30s") and from Prometheus-style ones ("1d", "1w").
type Duration time.Duration

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// StringList decodes from a single string or a list of strings.
type StringList []string

// Block is a mapping node from a monitor file together with its position.
// The zero Block (no node) decodes as an empty mapping.
type Block struct {
	Node *yaml.Node
	Line int // line of the key that introduced the block, used when Node is nil
}

// Has reports whether key is present in the block.
func (b Block) Has(key string) bool { return b.value(key) != nil }

// LineOf returns the line of key, or of the block itself when key is absent.
func (b Block) LineOf(key string) int {
	if b.Node != nil && b.Node.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(b.Node.Content); i += 2 {
			if b.Node.Content[i].Value == key {
				return b.Node.Content[i].Line
			}
		}
	}
	if b.Node != nil {
		return b.Node.Line
	}
	return b.Line
}

func (b Block) value(key string) *yaml.Node {
	if b.Node == nil || b.Node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(b.Node.Content); i += 2 {
		if b.Node.Content[i].Value == key {
			return b.Node.Content[i+1]
		}
	}
	return nil
}

// Errorf returns an *Error located at key (or the block when key is empty).
func (b Block) Errorf(key, format string, args ...any) error {
	return &Error{Line: b.LineOf(key), Field: key, Msg: fmt.Sprintf(format, args...)}
}

// Decode decodes the block into out, a pointer to a struct whose fields carry
// `yaml:"name"` tags (`yaml:",inline"` embeds a struct's fields). Every
// problem is collected; the returned error is an errors.Join of *Error.
func (b Block) Decode(out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("spec: Decode needs a pointer to a struct, got %T", out)
	}
	if b.Node == nil {
		return nil
	}
	var errs []error
	decodeInto(b.Node, rv.Elem(), "", &errs)
	return errors.Join(errs...)
}

// DecodeNode decodes any node into out with the same rules as Block.Decode.
func DecodeNode(node *yaml.Node, out any, path string) error {
	var errs []error
	decodeInto(node, reflect.ValueOf(out).Elem(), path, &errs)
	return errors.Join(errs...)
}

var (
	durationType   = reflect.TypeFor[Duration]()
	stringListType = reflect.TypeFor[StringList]()
	blockType      = reflect.TypeFor[Block]()
	nodeType       = reflect.TypeFor[yaml.Node]()
)

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func addErr(errs *[]error, n *yaml.Node, path, format string, args ...any) {
	*errs = append(*errs, &Error{Line: n.Line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

// fieldCache memoises fieldsOf: reflection per decoded struct dominated
// the load time of large monitor files.
var fieldCache sync.Map // reflect.Type -> map[string][]int

// fieldsOf maps yaml keys to field index paths, following inline structs.
func fieldsOf(t reflect.Type) map[string][]int {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string][]int)
	}
	out := map[string][]int{}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			if tag == "-" || !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), prefix...), i)
			if opts == "inline" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			out[name] = idx
		}
	}
	walk(t, nil)
	fieldCache.Store(t, out)
	return out
}

// ResolveAlias follows an alias node to the node it names (n itself when
// it is not an alias).
func ResolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func decodeInto(n *yaml.Node, v reflect.Value, path string, errs *[]error) {
	n = ResolveAlias(n)
	if n == nil {
		return
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	// An explicit null leaves the zero value.
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	switch {
	case v.Type() == nodeType:
		v.Set(reflect.ValueOf(*n)) // kept raw for the caller to walk
		return
	case v.Type() == blockType:
		// Kind-specific blocks are kept raw and decoded by their kind.
		if n.Kind != yaml.MappingNode {
			addErr(errs, n, path, "expected a mapping")
			return
		}
		v.Set(reflect.ValueOf(Block{Node: n, Line: n.Line}))
		return
	case v.Type() == durationType:
		if n.Kind != yaml.ScalarNode {
			addErr(errs, n, path, "expected a duration such as 30s")
			return
		}
		d, err := ParseDuration(n.Value)
		if err != nil {
			addErr(errs, n, path, "%v", err)
			return
		}
		v.SetInt(int64(d))
		return
	case v.Type() == stringListType:
		switch n.Kind {
		case yaml.ScalarNode:
			v.Set(reflect.ValueOf(StringList{n.Value}))
		case yaml.SequenceNode:
			list := make(StringList, 0, len(n.Content))
			for i, c := range n.Content {
				c = ResolveAlias(c)
				if c.Kind != yaml.ScalarNode {
					addErr(errs, c, fmt.Sprintf("%s[%d]", path, i), "expected a string")
					continue
				}
				list = append(list, c.Value)
			}
			v.Set(reflect.ValueOf(list))
		default:
			addErr(errs, n, path, "expected a string or a list of strings")
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			addErr(errs, n, path, "expected a mapping")
			return
		}
		fields := fieldsOf(v.Type())
		// Merged mappings first, so that the mapping's own keys win wherever
		// they are written (YAML merge-key semantics); with a list of
		// mappings, earlier ones win, so apply them last.
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value != "<<" {
				continue
			}
			merged := ResolveAlias(n.Content[i+1])
			if merged != nil && merged.Kind == yaml.SequenceNode {
				for j := len(merged.Content) - 1; j >= 0; j-- {
					decodeInto(merged.Content[j], v, path, errs)
				}
				continue
			}
			decodeInto(merged, v, path, errs)
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue
			}
			idx, ok := fields[k.Value]
			if !ok {
				addErr(errs, k, join(path, k.Value), "unknown field (known: %s)", knownList(fields))
				continue
			}
			if seen[k.Value] {
				addErr(errs, k, join(path, k.Value), "duplicate key")
				continue
			}
			seen[k.Value] = true
			decodeInto(val, v.FieldByIndex(idx), join(path, k.Value), errs)
		}
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		decodeInto(n, v.Elem(), path, errs)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			addErr(errs, n, path, "expected a mapping")
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			kv := reflect.New(v.Type().Key()).Elem()
			decodeInto(k, kv, path, errs)
			ev := reflect.New(v.Type().Elem()).Elem()
			decodeInto(val, ev, join(path, k.Value), errs)
			v.SetMapIndex(kv, ev)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			addErr(errs, n, path, "expected a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			decodeInto(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i), errs)
		}
		v.Set(s)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			addErr(errs, n, path, "%v", cleanYAMLError(err))
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			addErr(errs, n, path, "expected %s value", kindName(v.Kind()))
			return
		}
		if decodeScalarFast(n, v) {
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			addErr(errs, n, path, "expected %s value, got %q", kindName(v.Kind()), n.Value)
		}
	}
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Float32, reflect.Float64:
		return "a number"
	default:
		if k >= reflect.Int && k <= reflect.Uint64 {
			return "an integer"
		}
		return "a " + k.String()
	}
}

func knownList(fields map[string][]int) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func cleanYAMLError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	return strings.TrimSpace(msg)
}

// decodeScalarFast decodes the common scalars without building a yaml.v3
// decoder per value, which dominated the load of large files. It handles
// what it is sure of, exactly as yaml.v3 would, and returns false for the
// rest.
func decodeScalarFast(n *yaml.Node, v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		switch n.Tag {
		case "!!str", "!!int", "!!float", "!!bool":
			v.SetString(n.Value)
			return true
		}
	case reflect.Bool:
		if n.Tag == "!!bool" {
			switch n.Value {
			case "true", "True", "TRUE":
				v.SetBool(true)
				return true
			case "false", "False", "FALSE":
				v.SetBool(false)
				return true
			}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.Tag == "!!int" && plainDecimal(n.Value) {
			i, err := strconv.ParseInt(n.Value, 10, v.Type().Bits())
			if err == nil {
				v.SetInt(i)
				return true
			}
		}
	}
	return false
}

// plainDecimal reports an optionally signed run of digits without a
// leading zero (yaml.v3 reads 0777 as octal).
func plainDecimal(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Sub returns the block under key, located at the key's line, so errors
// about its contents point inside it. An absent key gives an empty block
// located where the key would be.
func (b Block) Sub(key string) Block {
	if b.Node != nil && b.Node.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(b.Node.Content); i += 2 {
			if b.Node.Content[i].Value == key {
				return Block{Node: ResolveAlias(b.Node.Content[i+1]), Line: b.Node.Content[i].Line}
			}
		}
	}
	return Block{Line: b.LineOf(key)}
}

// NestedLine is the line of key inside the mapping under parent, or of
// parent itself when key is absent.
func (b Block) NestedLine(parent, key string) int {
	if s := b.Sub(parent); s.Has(key) {
		return s.LineOf(key)
	}
	return b.LineOf(parent)
}
