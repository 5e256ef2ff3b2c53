// Package fastyaml is a fast path for loading very large, machine-generated
// YAML files (monitor files of up to a million monitors, ~250 MB) into
// go.yaml.in/yaml/v3 node trees.
//
// yaml.v3 needs roughly 28 µs per monitor, about 30 s for a million, mostly
// spent in its libyaml-derived scanner and per-node allocations. Downstream
// code walks *yaml.Node trees and reports errors by line number, so this
// package produces exactly the tree yaml.Unmarshal(data, &node) produces, for
// a restricted but common subset of YAML, and refuses everything else.
//
// # Contract
//
// Parse(data) returns either (nil, false), "bail out", or a DocumentNode
// tree whose every node has the same Kind, Style, Tag, Value, Anchor, Line,
// Column and Content as yaml.v3's. HeadComment, LineComment and FootComment
// are always empty: downstream ignores comments. Callers must fall back to
// yaml.v3 on bail-out, which also gives users yaml.v3's error messages:
//
//	node, ok := fastyaml.Parse(data)
//	if !ok {
//		node = new(yaml.Node)
//		if err := yaml.Unmarshal(data, node); err != nil { ... }
//	}
//
// Bailing out is always safe; producing a different tree is a bug. Parse
// therefore bails out whenever it is not certain, including on every input
// yaml.v3 rejects. The differential tests and fuzz tests in this package
// check exactly this against yaml.v3 v3.0.5; re-run them when upgrading it.
//
// # Supported subset
//
//   - One document, optionally preceded by "---" and followed by "...",
//     each alone on its line (a trailing comment is fine). Empty documents,
//     multiple documents and directives (%YAML, %TAG) bail out.
//   - Block mappings and block sequences nested by space indentation,
//     including "- key: value" items, "- - item" compact nested sequences,
//     and sequences not indented past their parent key ("key:\n- a").
//   - Implicit keys that are plain or quoted scalars; duplicate keys are
//     kept as yaml.v3 keeps them (it does not reject them when decoding into
//     a Node).
//   - Plain scalars, and single- or double-quoted scalars, on one line.
//     Double-quoted escapes are decoded as yaml.v3 does; "\/" and other
//     escapes yaml.v3 rejects bail out.
//   - Empty values ("key:", "- ") as !!null, positioned as yaml.v3 does.
//   - Flow mappings and flow sequences opening and closing on one line,
//     nested, with scalar keys, trailing commas and keys without values.
//   - Comments (full-line and trailing), blank lines, and CRLF line breaks.
//   - Tags of plain scalars resolved like yaml.v3: !!null, !!bool, !!int
//     (decimal, 0x, 0o, 0b, legacy 0777 octal, underscores), !!float,
//     !!timestamp and !!str; quoted scalars are !!str.
//
// Everything else bails out: anchors, aliases, tags, the merge key "<<",
// block scalars (| and >), multi-line plain, quoted or flow scalars,
// explicit "?" keys, flow collections as keys, tabs anywhere, control
// characters, invalid UTF-8, a byte order mark, the Unicode line breaks
// NEL/LS/PS, lone CRs, keys longer than 1000 bytes (yaml.v3 limits implicit
// keys to 1024 characters), nesting deeper than 1000 and any syntax error.
//
// # Performance
//
// Parse makes one string(data) conversion; scalar values without escapes
// are substrings of it, so any retained node keeps the whole input alive.
// Nodes are carved from slabs and Content slices from shared backing arrays
// (with capacity capped, so appending to one Content never overwrites
// another). Parse keeps no global state and may be called concurrently.
package fastyaml
