package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// kernelMark replaces __global__ when the kernel sources are preprocessed, so that the
// entry points can be found in the expanded text.
const kernelMark = "KILN_KERNEL_ENTRY"

// A cType is a kernel parameter's C type, reduced to what the 64-bit launch slot carries:
// a scalar (long long or double) or a pointer to one of the element types.
type cType struct {
	elem    string // "f32", "f64", "i32", "i64", "u64"
	pointer bool
}

// code is the type's short name, shared with the emulator's signature check
// (kernels/emu/emu.cpp): "i64", "f64", or the element followed by "*".
func (t cType) code() string {
	if t.pointer {
		return t.elem + "*"
	}
	return t.elem
}

type param struct {
	name string
	typ  cType
}

// A kernel is one extern "C" __global__ entry point.
type kernel struct {
	name   string
	params []param
}

// signature is the comma-separated codes of the kernel's parameters.
func (k kernel) signature() string {
	codes := make([]string, len(k.params))
	for i, p := range k.params {
		codes[i] = p.typ.code()
	}
	return strings.Join(codes, ",")
}

var entryRE = regexp.MustCompile(`extern\s+"C"\s+` + kernelMark + `\s+void\s+(\w+)\s*\(([^)]*)\)`)

// parseKernels finds every kernel entry point in preprocessed source.
func parseKernels(src string) ([]kernel, error) {
	var ks []kernel
	seen := map[string]bool{}
	for _, m := range entryRE.FindAllStringSubmatch(src, -1) {
		k := kernel{name: m[1]}
		if seen[k.name] {
			return nil, fmt.Errorf("kernel %s defined twice", k.name)
		}
		seen[k.name] = true
		if strings.TrimSpace(m[2]) != "" && strings.TrimSpace(m[2]) != "void" {
			for _, p := range strings.Split(m[2], ",") {
				pr, err := parseParam(p)
				if err != nil {
					return nil, fmt.Errorf("kernel %s: %w", k.name, err)
				}
				k.params = append(k.params, pr)
			}
		}
		ks = append(ks, k)
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("no kernel entry points found")
	}
	return ks, nil
}

var cElems = map[string]string{
	"float": "f32", "double": "f64", "int": "i32", "i64": "i64", "long long": "i64",
	"unsigned long long": "u64", "kbf16": "bf16", "kf16": "f16",
}

// parseParam reads one parameter declaration such as "const float *__restrict x".
func parseParam(s string) (param, error) {
	s = strings.ReplaceAll(s, "*", " * ")
	var words []string
	ptr := 0
	for _, w := range strings.Fields(s) {
		switch w {
		case "const", "__restrict", "__restrict__", "restrict":
		case "*":
			ptr++
		default:
			words = append(words, w)
		}
	}
	if len(words) < 2 {
		return param{}, fmt.Errorf("parameter %q has no name", strings.TrimSpace(s))
	}
	name := words[len(words)-1]
	base := strings.Join(words[:len(words)-1], " ")
	elem, ok := cElems[base]
	if !ok || ptr > 1 {
		return param{}, fmt.Errorf("parameter %s: type %q%s is not a launch type", name, base, strings.Repeat("*", ptr))
	}
	t := cType{elem: elem, pointer: ptr == 1}
	if !t.pointer && elem != "i64" && elem != "f64" {
		return param{}, fmt.Errorf("parameter %s: scalar %s is not 64 bits wide (launch slots are 64-bit)", name, base)
	}
	return param{name: name, typ: t}, nil
}

// dtypeTokens are the name parts that say which element type a kernel instantiates.
var dtypeTokens = map[string]bool{"f32": true, "f64": true, "i32": true, "bf16": true, "f16": true}

// A family is the kernels whose names differ only in their dtype tokens ("kiln_fill_f32",
// "kiln_fill_f64", "kiln_fill_i32"). Its binding takes the varying pointers as elemPtr and
// picks the member by their dtypes at launch.
type family struct {
	pattern string   // name with each dtype token replaced by "*"
	members []member // sorted by name
	// tie[i] is the dtype token that parameter i's element type follows, or -1 when the
	// parameter's type is the same in every member.
	tie []int
	// explicit lists the tokens no parameter follows: the binding takes their dtypes as
	// arguments.
	explicit []int
}

type member struct {
	kernel
	tokens []string // the dtype tokens of the name, in order
}

func splitName(name string) (pattern string, tokens []string) {
	parts := strings.Split(name, "_")
	for i, p := range parts {
		if dtypeTokens[p] {
			tokens = append(tokens, p)
			parts[i] = "*"
		}
	}
	return strings.Join(parts, "_"), tokens
}

// groupFamilies groups kernels into families and works out how each parameter's type
// follows the members' dtype tokens.
func groupFamilies(ks []kernel) ([]*family, error) {
	byPattern := map[string]*family{}
	var fams []*family
	for _, k := range ks {
		pat, toks := splitName(k.name)
		f := byPattern[pat]
		if f == nil {
			f = &family{pattern: pat}
			byPattern[pat] = f
			fams = append(fams, f)
		}
		f.members = append(f.members, member{kernel: k, tokens: toks})
	}
	for _, f := range fams {
		sort.Slice(f.members, func(i, j int) bool { return f.members[i].name < f.members[j].name })
		if err := f.resolve(); err != nil {
			return nil, err
		}
	}
	return fams, nil
}

func (f *family) resolve() error {
	first := f.members[0]
	ntok := len(first.tokens)
	for _, m := range f.members[1:] {
		if len(m.params) != len(first.params) {
			return fmt.Errorf("%s has %d parameters, %s has %d", m.name, len(m.params), first.name, len(first.params))
		}
	}
	f.tie = make([]int, len(first.params))
	tied := make([]bool, ntok)
	for i, p := range first.params {
		f.tie[i] = -1
		for _, m := range f.members {
			if m.params[i].name != p.name || m.params[i].typ.pointer != p.typ.pointer {
				return fmt.Errorf("%s and %s differ in parameter %d (%s, %s)", first.name, m.name, i, p.name, m.params[i].name)
			}
		}
		if !p.typ.pointer {
			for _, m := range f.members {
				if m.params[i].typ != p.typ {
					return fmt.Errorf("%s: scalar parameter %s changes type across the family", f.pattern, p.name)
				}
			}
			continue
		}
		// A pointer follows token t when its element is that token's type in every member.
		for t := 0; t < ntok && f.tie[i] < 0; t++ {
			follows := true
			for _, m := range f.members {
				if m.params[i].typ.elem != m.tokens[t] {
					follows = false
				}
			}
			if follows {
				f.tie[i] = t
				tied[t] = true
			}
		}
		if f.tie[i] < 0 {
			for _, m := range f.members {
				if m.params[i].typ != p.typ {
					return fmt.Errorf("%s: parameter %s neither follows a dtype token nor keeps one type", f.pattern, p.name)
				}
			}
		}
	}
	for t := 0; t < ntok; t++ {
		if !tied[t] {
			f.explicit = append(f.explicit, t)
		}
	}
	return nil
}

// goName turns a family pattern into the binding's method name: "kiln_attn_fwd_*_d32" →
// "attnFwdD32".
func goName(pattern string) string {
	var b strings.Builder
	for i, p := range strings.Split(strings.TrimPrefix(pattern, "kiln_"), "_") {
		if p == "*" || p == "" {
			continue
		}
		if i == 0 || b.Len() == 0 {
			b.WriteString(p)
			continue
		}
		b.WriteString(strings.ToUpper(p[:1]) + p[1:])
	}
	return b.String()
}

// arrayRun reports whether params[i:] begins a run of eight scalars named p0 … p7 of
// one type, which the binding takes as one [8]int array.
func arrayRun(params []param, i int) (prefix string, ok bool) {
	if i+8 > len(params) || !strings.HasSuffix(params[i].name, "0") {
		return "", false
	}
	prefix = strings.TrimSuffix(params[i].name, "0")
	for j := 0; j < 8; j++ {
		p := params[i+j]
		if p.name != prefix+strconv.Itoa(j) || p.typ != params[i].typ || p.typ.pointer {
			return "", false
		}
	}
	return prefix, true
}
