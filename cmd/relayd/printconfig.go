package main

import (
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// writeConfig prints c as a YAML config file that relayd accepts back, every
// key present and commented, so `relayd --print-config > relayd.yaml` is a
// documented starting point.
func writeConfig(w io.Writer, c Config) error {
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, b := range bindings(&c) {
		key := &yaml.Node{Kind: yaml.ScalarNode, Value: b.key, HeadComment: b.usage}
		root.Content = append(root.Content, key, valueNode(b.value))
	}
	doc := &yaml.Node{
		Kind:        yaml.DocumentNode,
		HeadComment: "relayd configuration (printed by relayd --print-config)",
		Content:     []*yaml.Node{root},
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	return enc.Close()
}

// valueNode tags each scalar with its YAML type so the encoder quotes a
// string that would otherwise read back as a number or boolean.
func valueNode(v value) *yaml.Node {
	switch v := v.(type) {
	case interface{ unwrap() value }:
		return valueNode(v.unwrap())
	case *classesValue:
		return classesNode(*v.p)
	case *listValue:
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		if len(*v.p) == 0 {
			seq.Style = yaml.FlowStyle // "[]" instead of nothing
		}
		for _, s := range *v.p {
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
		}
		return seq
	case boolValue:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: v.String()}
	case intValue[int], intValue[int64]:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: v.String()}
	default:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String()}
	}
}
