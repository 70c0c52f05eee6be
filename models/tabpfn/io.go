package tabpfn

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// MetaConfig is the metadata key holding the model's Config as JSON.
const MetaConfig = "tabpfn.config"

// paramPrefix starts the checkpoint name of every model parameter; other entries (optimizer
// state) are the trainer's.
const paramPrefix = "model."

// Entries returns the model's parameters as checkpoint entries (float32, host copies).
func (m *Model) Entries() []checkpoint.Entry {
	var es []checkpoint.Entry
	for _, n := range m.NamedParameters() {
		es = append(es, checkpoint.Entry{Name: paramPrefix + n.Name, Shape: n.Tensor.Shape(), F32: n.Tensor.Float32s()})
	}
	return es
}

// bordersEntry names a regression model's bar borders in a checkpoint (float64, Bins+1):
// they are part of the model but not a parameter, so they sit outside "model.*".
const bordersEntry = "bar.borders"

// Save writes the model (parameters and config, and a regression model's bar borders) to
// path atomically; extra metadata and entries (optimizer state, training progress) may be
// added by the trainer.
func (m *Model) Save(path string, meta map[string]string, extra []checkpoint.Entry) error {
	md := map[string]string{MetaConfig: m.Cfg.JSON(), "format": "kiln-tabpfn-v1"}
	for k, v := range meta {
		md[k] = v
	}
	es := m.Entries()
	if m.Cfg.Regression() {
		if m.Bars == nil {
			return errors.New("tabpfn: a regression model without bar borders cannot be saved")
		}
		es = append(es, checkpoint.Entry{Name: bordersEntry, Shape: []int{m.Cfg.Bins + 1}, F64: m.Bars.Borders()})
	}
	return checkpoint.Save(path, append(es, extra...), md)
}

// barsOf reads and checks a regression model's bar borders from f.
func barsOf(f *checkpoint.File, cfg Config) (*Bars, error) {
	e, ok := f.Entries[bordersEntry]
	if !ok {
		return nil, fmt.Errorf("tabpfn: regression checkpoint has no %q entry", bordersEntry)
	}
	if dt := e.DType(); dt != "F64" || len(e.Shape) != 1 || e.Shape[0] != cfg.Bins+1 || len(e.F64) != cfg.Bins+1 {
		return nil, fmt.Errorf("tabpfn: %q is %s %v, want F64 [%d]", bordersEntry, dt, e.Shape, cfg.Bins+1)
	}
	return NewBars(e.F64)
}

// ParameterCount is the number of parameters a model of config c has. It is meant for
// configs within ConfigBounds, for which it cannot overflow.
func (c Config) ParameterCount() int {
	w, h, k := c.Width, c.MLPWidth, c.outputs()
	target := (k + 1) * w // class embeddings and the placeholder
	if c.Regression() {
		target = 2*w + w // the target value encoder's weight and bias
	}
	encoder := 2*w + w + c.FeatureDim*w + target // cell (weight, bias), feature, target
	attention := 4 * (w*w + w)                   // q, k, v, out
	mlp := w*h + h + h*w + w
	perLayer := 2*attention + mlp + 3*2*w // two attentions, the MLP, three norms
	decoder := w*h + h + h*k + k
	return encoder + c.Layers*perLayer + decoder
}

// parameterShapes lists the checkpoint name and shape of every parameter of a model of
// config c, in NamedParameters order, without building the model: a loader compares them
// with a file's tensors before it allocates anything. Linear weights are [out, in].
func (c Config) parameterShapes() []checkpoint.Expect {
	w, h, k := c.Width, c.MLPWidth, c.outputs()
	var es []checkpoint.Expect
	add := func(name string, shape ...int) {
		es = append(es, checkpoint.Expect{Name: paramPrefix + name, Shape: shape})
	}
	linear := func(name string, in, out int, bias bool) {
		add(name+".weight", out, in)
		if bias {
			add(name+".bias", out)
		}
	}
	mlp := func(name string, sizes ...int) {
		for i := range len(sizes) - 1 {
			linear(fmt.Sprintf("%s.layers.%d", name, i), sizes[i], sizes[i+1], true)
		}
	}
	linear("encoder.cell", 2, w, true)
	linear("encoder.feature", c.FeatureDim, w, false)
	if c.Regression() {
		linear("encoder.target_value", 2, w, true)
	} else {
		add("encoder.target.weight", k+1, w)
	}
	for i := range c.Layers {
		p := fmt.Sprintf("layers.%d.", i)
		for _, attn := range []string{"feature_attn", "row_attn"} {
			for _, proj := range []string{"q", "k", "v", "out"} {
				linear(p+attn+"."+proj, w, w, true)
			}
		}
		mlp(p+"mlp", w, h, w)
		for _, norm := range []string{"norm1", "norm2", "norm3"} {
			add(p+norm+".weight", w)
			add(p+norm+".bias", w)
		}
	}
	mlp("decoder", w, h, k)
	return es
}

// configOf reads and validates the model config in a checkpoint's metadata. Unknown fields
// are errors: a field this version does not know would change the architecture unseen.
func configOf(meta map[string]string) (Config, error) {
	raw, ok := meta[MetaConfig]
	if !ok {
		return Config{}, fmt.Errorf("tabpfn: checkpoint has no %q metadata: not a kiln TabPFN model", MetaConfig)
	}
	var cfg Config
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("tabpfn: checkpoint config %.200q is not a valid config: %w", raw, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("tabpfn: checkpoint config %.200q has data after its JSON object", raw)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// modelEntries checks that f holds exactly the parameters of a model of config cfg (names,
// shapes, float32) with finite values, and returns them by parameter name. Entries not
// named "model.*" (optimizer state) are ignored.
func modelEntries(f *checkpoint.File, cfg Config) (map[string]checkpoint.Entry, error) {
	sub := &checkpoint.File{Entries: map[string]checkpoint.Entry{}, Metadata: f.Metadata}
	for name, e := range f.Entries {
		if strings.HasPrefix(name, paramPrefix) {
			sub.Entries[name] = e
		}
	}
	if err := sub.Check(cfg.parameterShapes()); err != nil {
		return nil, fmt.Errorf("tabpfn: %w", err)
	}
	out := make(map[string]checkpoint.Entry, len(sub.Entries))
	for _, name := range sub.Names() {
		e := sub.Entries[name]
		if dt := e.DType(); dt != "F32" {
			return nil, fmt.Errorf("tabpfn: parameter %q has dtype %s, want F32", name, dt)
		}
		for _, v := range e.F32 {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("tabpfn: parameter %q holds non-finite values (corrupt checkpoint)", name)
			}
		}
		out[strings.TrimPrefix(name, paramPrefix)] = e
	}
	return out, nil
}

// FromFile builds a model on dev from a decoded checkpoint. The config is validated and the
// parameters' names, shapes, dtype and values are checked against it before the model is
// allocated, so a config that disagrees with the file is an error, never an allocation.
// Entries not named "model.*" (optimizer state) are ignored.
func FromFile(dev device.Device, f *checkpoint.File) (*Model, error) {
	cfg, err := configOf(f.Metadata)
	if err != nil {
		return nil, err
	}
	entries, err := modelEntries(f, cfg)
	if err != nil {
		return nil, err
	}
	var bars *Bars
	if cfg.Regression() {
		if bars, err = barsOf(f, cfg); err != nil {
			return nil, err
		}
	}
	m, err := New(dev, cfg, 0)
	if err != nil {
		return nil, fmt.Errorf("tabpfn: checkpoint config: %w", err)
	}
	err = tensor.Catch(func() error {
		for _, n := range m.NamedParameters() {
			if err := dev.CopyFromHost(n.Tensor.Buffer(), entries[n.Name].F32); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		m.Release()
		return nil, err
	}
	m.Bars = bars
	return m, nil
}

// Load reads a model checkpoint from path onto dev.
func Load(dev device.Device, path string) (*Model, error) {
	f, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	return FromFile(dev, f)
}

// LoadBytes reads a model checkpoint from memory (the embedded default model).
func LoadBytes(dev device.Device, buf []byte) (*Model, error) {
	f, err := checkpoint.Decode(buf)
	if err != nil {
		return nil, err
	}
	return FromFile(dev, f)
}
