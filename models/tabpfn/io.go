package tabpfn

import (
	"encoding/json"
	"fmt"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// MetaConfig is the metadata key holding the model's Config as JSON.
const MetaConfig = "tabpfn.config"

// Entries returns the model's parameters as checkpoint entries (float32, host copies).
func (m *Model) Entries() []checkpoint.Entry {
	var es []checkpoint.Entry
	for _, n := range m.NamedParameters() {
		es = append(es, checkpoint.Entry{Name: "model." + n.Name, Shape: n.Tensor.Shape(), F32: n.Tensor.Float32s()})
	}
	return es
}

// Save writes the model (parameters and config) to path atomically; extra metadata and
// entries (optimizer state, training progress) may be added by the trainer.
func (m *Model) Save(path string, meta map[string]string, extra []checkpoint.Entry) error {
	md := map[string]string{MetaConfig: m.Cfg.JSON(), "format": "kiln-tabpfn-v1"}
	for k, v := range meta {
		md[k] = v
	}
	return checkpoint.Save(path, append(m.Entries(), extra...), md)
}

// FromFile builds a model on dev from a decoded checkpoint, checking that every parameter is
// present with the right shape. Entries not named "model.*" (optimizer state) are ignored.
func FromFile(dev device.Device, f *checkpoint.File) (*Model, error) {
	raw, ok := f.Metadata[MetaConfig]
	if !ok {
		return nil, fmt.Errorf("tabpfn: checkpoint has no %q metadata: not a kiln TabPFN model", MetaConfig)
	}
	var cfg Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return nil, fmt.Errorf("tabpfn: checkpoint config %q is not valid JSON: %w", raw, err)
	}
	m, err := New(dev, cfg, 0)
	if err != nil {
		return nil, fmt.Errorf("tabpfn: checkpoint config: %w", err)
	}
	var want []checkpoint.Expect
	for _, n := range m.NamedParameters() {
		want = append(want, checkpoint.Expect{Name: "model." + n.Name, Shape: n.Tensor.Shape()})
	}
	sub := &checkpoint.File{Entries: map[string]checkpoint.Entry{}, Metadata: f.Metadata}
	for name, e := range f.Entries {
		if len(name) > 6 && name[:6] == "model." {
			sub.Entries[name] = e
		}
	}
	if err := sub.Check(want); err != nil {
		m.Release()
		return nil, fmt.Errorf("tabpfn: %w", err)
	}
	err = tensor.Catch(func() error {
		for _, n := range m.NamedParameters() {
			e := sub.Entries["model."+n.Name]
			if e.F32 == nil {
				return fmt.Errorf("tabpfn: parameter %q is not float32", n.Name)
			}
			for _, v := range e.F32 {
				if v != v || v > 3e38 || v < -3e38 {
					return fmt.Errorf("tabpfn: parameter %q holds non-finite values (corrupt checkpoint)", n.Name)
				}
			}
			if err := dev.CopyFromHost(n.Tensor.Buffer(), e.F32); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		m.Release()
		return nil, err
	}
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
