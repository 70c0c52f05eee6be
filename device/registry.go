package device

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Backend opens devices of one kind ("cpu", "cuda").
type Backend interface {
	Kind() string
	// Count is the number of devices of this kind present (0 when none is usable).
	Count() int
	// Open returns device number ordinal, opening it on first use.
	Open(ordinal int) (Device, error)
}

var (
	regMu    sync.Mutex
	backends = map[string]Backend{}
)

// Register makes a backend available to Get. Backends call it from their package init.
func Register(b Backend) {
	regMu.Lock()
	defer regMu.Unlock()
	backends[b.Kind()] = b
}

// Kinds lists the registered backend kinds in sorted order.
func Kinds() []string {
	regMu.Lock()
	defer regMu.Unlock()
	ks := make([]string, 0, len(backends))
	for k := range backends {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Available lists the names of every usable device ("cpu", "cuda:0", ...).
func Available() []string {
	var names []string
	for _, k := range Kinds() {
		regMu.Lock()
		b := backends[k]
		regMu.Unlock()
		n := b.Count()
		if k == "cpu" && n > 0 {
			names = append(names, "cpu")
			continue
		}
		for i := 0; i < n; i++ {
			names = append(names, fmt.Sprintf("%s:%d", k, i))
		}
	}
	return names
}

// Parse splits a device name into its kind and ordinal: "cpu" → ("cpu", 0), "cuda" →
// ("cuda", 0), "cuda:1" → ("cuda", 1). It checks only the syntax.
func Parse(name string) (kind string, ordinal int, err error) {
	s := strings.ToLower(strings.TrimSpace(name))
	if s == "" {
		return "", 0, fmt.Errorf("device: empty device name (available: %s)", strings.Join(Available(), ", "))
	}
	kind, num, hasNum := strings.Cut(s, ":")
	if kind == "" {
		return "", 0, fmt.Errorf("device: %q has no kind before ':'", name)
	}
	for _, r := range kind {
		if r < 'a' || r > 'z' {
			return "", 0, fmt.Errorf("device: %q is not a device name (want e.g. cpu, cuda, cuda:1)", name)
		}
	}
	if hasNum {
		ordinal, err = strconv.Atoi(num)
		if err != nil || ordinal < 0 {
			return "", 0, fmt.Errorf("device: %q has a bad ordinal %q (want a number ≥ 0)", name, num)
		}
	}
	return kind, ordinal, nil
}

// Get returns the device with the given name. An unknown kind, a kind not compiled into this
// binary, or an ordinal beyond the devices present is an error listing what is available.
func Get(name string) (Device, error) {
	kind, ord, err := Parse(name)
	if err != nil {
		return nil, err
	}
	regMu.Lock()
	b, ok := backends[kind]
	regMu.Unlock()
	avail := strings.Join(Available(), ", ")
	if !ok {
		hint := ""
		if kind == "cuda" {
			hint = " (this binary was built without CUDA support: rebuild with -tags cuda)"
		}
		return nil, fmt.Errorf("device: unknown device %q%s; available: %s", name, hint, avail)
	}
	if n := b.Count(); ord >= n {
		if n == 0 {
			return nil, fmt.Errorf("device: no %s device is usable on this machine; available: %s", kind, avail)
		}
		return nil, fmt.Errorf("device: %q does not exist (%d %s device(s)); available: %s", name, n, kind, avail)
	}
	d, err := b.Open(ord)
	if err == nil {
		regMu.Lock()
		if !slices.ContainsFunc(opened, func(o Device) bool { return o.Name() == d.Name() }) {
			opened = append(opened, d)
		}
		regMu.Unlock()
	}
	return d, err
}

// opened lists the devices Get has returned, in the order first asked for.
var opened []Device

// Opened returns the devices this process has opened through Get (for end-of-run reports
// such as a backend's profile).
func Opened() []Device {
	regMu.Lock()
	defer regMu.Unlock()
	return slices.Clone(opened)
}

// MustGet is Get for names known to be valid (tests, "cpu"); it panics on error.
func MustGet(name string) Device {
	d, err := Get(name)
	if err != nil {
		panic(err)
	}
	return d
}
