package tabpfn

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/device"
)

// legacyBytes encodes f without checksums, as kiln wrote files before it stored them.
func legacyBytes(t testing.TB, f *checkpoint.File) []byte {
	t.Helper()
	views := map[string]safetensors.TensorView{}
	for name, e := range f.Entries {
		shape := make([]uint64, len(e.Shape))
		for i, d := range e.Shape {
			shape[i] = uint64(d)
		}
		var data []byte
		dt := safetensors.F32
		for _, v := range e.F32 {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
		if e.F64 != nil {
			dt = safetensors.F64
			for _, v := range e.F64 {
				data = binary.LittleEndian.AppendUint64(data, math.Float64bits(v))
			}
		}
		v, err := safetensors.NewTensorView(dt, shape, data)
		require.NoError(t, err)
		views[name] = v
	}
	b, err := safetensors.Serialize(views, f.Metadata)
	require.NoError(t, err)
	return b
}

// metadataOnly is a safetensors file holding no tensors, only metadata, with the header
// padded by spaces to pad bytes: the shape of the hostile files in the tests below.
func metadataOnly(t testing.TB, meta map[string]string, pad int) []byte {
	t.Helper()
	b, err := safetensors.Serialize(map[string]safetensors.TensorView{}, meta)
	require.NoError(t, err)
	n := binary.LittleEndian.Uint64(b)
	for len(b) < pad {
		b = append(b, ' ')
		n++
	}
	binary.LittleEndian.PutUint64(b, n)
	return b
}

// tinyModelFile is a small model's checkpoint, checksummed or legacy.
func tinyModelFile(t testing.TB, cfg Config, legacy bool) []byte {
	t.Helper()
	m, err := New(device.MustGet("cpu"), cfg, 5)
	require.NoError(t, err)
	defer m.Release()
	meta := map[string]string{MetaConfig: cfg.JSON(), "format": "kiln-tabpfn-v1"}
	b, err := checkpoint.Encode(m.Entries(), meta)
	require.NoError(t, err)
	if legacy {
		f, err := checkpoint.Decode(b)
		require.NoError(t, err)
		b = legacyBytes(t, f)
	}
	return b
}

// allocatedBy is the number of bytes fn allocates on the heap.
func allocatedBy(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The shapes a loader checks before allocating are the shapes New builds, name for name.
func TestParameterShapesMatchModel(t *testing.T) {
	dev := device.MustGet("cpu")
	for _, cfg := range []Config{tinyConfig(), SmallConfig(), ShippedConfig(),
		{Layers: 1, Width: 6, Heads: 3, MLPWidth: 5, FeatureDim: 1, MaxClasses: 2, MaxFeatures: 1, MaxRows: 2}} {
		m, err := New(dev, cfg, 1)
		require.NoError(t, err)
		var want []checkpoint.Expect
		total := 0
		for _, n := range m.NamedParameters() {
			want = append(want, checkpoint.Expect{Name: "model." + n.Name, Shape: n.Tensor.Shape()})
			total += n.Tensor.Len()
		}
		m.Release()
		require.Equal(t, want, cfg.parameterShapes(), "%+v", cfg)
		require.Equal(t, total, cfg.ParameterCount(), "%+v", cfg)
	}
	require.Equal(t, 759882, ShippedConfig().ParameterCount())
}

// Every field has a range; an error names the field, its value and the bound.
func TestConfigBounds(t *testing.T) {
	require.NoError(t, ShippedConfig().Validate())
	set := map[string]func(c *Config, v int){
		"layers":         func(c *Config, v int) { c.Layers = v },
		"width":          func(c *Config, v int) { c.Width = v },
		"heads":          func(c *Config, v int) { c.Heads = v },
		"mlp_width":      func(c *Config, v int) { c.MLPWidth = v },
		"feature_dim":    func(c *Config, v int) { c.FeatureDim = v },
		"max_classes":    func(c *Config, v int) { c.MaxClasses = v },
		"max_features":   func(c *Config, v int) { c.MaxFeatures = v },
		"max_train_rows": func(c *Config, v int) { c.MaxRows = v },
	}
	hi := ConfigBounds()
	bound := map[string]int{"layers": hi.Layers, "width": hi.Width, "heads": hi.Heads, "mlp_width": hi.MLPWidth,
		"feature_dim": hi.FeatureDim, "max_classes": hi.MaxClasses, "max_features": hi.MaxFeatures, "max_train_rows": hi.MaxRows}
	for name, f := range set {
		for _, v := range []int{bound[name] + 1, math.MaxInt} {
			c := ShippedConfig()
			f(&c, v)
			require.EqualError(t, c.Validate(), fmt.Sprintf("tabpfn: config %s %d is above the bound of %d", name, v, bound[name]))
		}
		for _, v := range []int{0, -1, math.MinInt} {
			c := ShippedConfig()
			f(&c, v)
			require.ErrorContains(t, c.Validate(), fmt.Sprintf("tabpfn: config %s %d is below the minimum of", name, v))
		}
	}
	// Each field at its bound is accepted where the parameter count allows: the widest model
	// has one layer, the deepest a modest width.
	wide := Config{Layers: 1, Width: hi.Width, Heads: hi.Heads, MLPWidth: 4096, FeatureDim: hi.FeatureDim,
		MaxClasses: hi.MaxClasses, MaxFeatures: hi.MaxFeatures, MaxRows: hi.MaxRows}
	require.NoError(t, wide.Validate())
	broad := wide
	broad.Width, broad.MLPWidth = 1024, hi.MLPWidth
	require.NoError(t, broad.Validate())
	deep := ShippedConfig()
	deep.Layers = hi.Layers
	require.NoError(t, deep.Validate())
	wide.Layers = 2
	require.EqualError(t, wide.Validate(), fmt.Sprintf("tabpfn: config has %d parameters, above the bound of 268435456", wide.ParameterCount()))
	var c Config
	c = ShippedConfig()
	c.Width, c.Heads = 130, 4
	require.EqualError(t, c.Validate(), "tabpfn: config width 130 is not a multiple of heads 4")
}

// The hostile files of the reported failures, and configs that disagree with the file's
// tensors, are errors before the model is allocated: loading uses a few MB at most, where
// the configs ask for tens of GB.
func TestHostileModelFilesFailBeforeAllocation(t *testing.T) {
	dev := device.MustGet("cpu")
	hostile := func(cfg string) []byte {
		return metadataOnly(t, map[string]string{MetaConfig: cfg}, 209)
	}
	wide := `{"layers":4,"width":200000,"heads":4,"mlp_width":192,"feature_dim":16,"max_classes":10,"max_features":100,"max_train_rows":1024}`
	deep := `{"layers":1000000,"width":128,"heads":4,"mlp_width":192,"feature_dim":16,"max_classes":10,"max_features":100,"max_train_rows":1024}`
	// Within every bound, 200 million parameters (800 MB), none of them in the file.
	big := `{"layers":4,"width":2048,"heads":4,"mlp_width":4096,"feature_dim":16,"max_classes":10,"max_features":100,"max_train_rows":1024}`
	tiny := tinyModelFile(t, tinyConfig(), false)
	retarget := func(cfg string) []byte { // tiny's tensors under another config, checksummed
		f, err := checkpoint.Decode(tiny)
		require.NoError(t, err)
		f.Metadata[MetaConfig] = cfg
		var es []checkpoint.Entry
		for _, n := range f.Names() {
			es = append(es, f.Entries[n])
		}
		b, err := checkpoint.Encode(es, f.Metadata)
		require.NoError(t, err)
		return b
	}
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"width 200000", hostile(wide), "tabpfn: config width 200000 is above the bound of 4096"},
		{"layers 1e6", hostile(deep), "tabpfn: config layers 1000000 is above the bound of 64"},
		{"negative heads", hostile(strings.Replace(ShippedConfig().JSON(), `"heads":4`, `"heads":-4`, 1)), "tabpfn: config heads -4 is below the minimum of 1"},
		{"no tensors for a valid config", hostile(big), `missing tensor "model.encoder.cell.weight"`},
		{"config disagrees with the tensors", retarget(big), `tensor "model.encoder.cell.weight" has shape [16 2], want [2048 2]`},
		{"one layer more than the file", retarget(strings.Replace(tinyConfig().JSON(), `"layers":2`, `"layers":3`, 1)), `missing tensor "model.layers.2.`},
		{"one layer less than the file", retarget(strings.Replace(tinyConfig().JSON(), `"layers":2`, `"layers":1`, 1)), `unexpected tensor "model.layers.1.`},
		{"unknown config field", retarget(strings.Replace(tinyConfig().JSON(), `{`, `{"norm":"pre",`, 1)), `unknown field "norm"`},
		{"data after the config", retarget(tinyConfig().JSON() + `{}`), "data after its JSON object"},
		{"float extent", hostile(strings.Replace(wide, `200000`, `2e5`, 1)), "not a valid config"},
		{"no config", metadataOnly(t, map[string]string{"format": "kiln-tabpfn-v1"}, 0), "not a kiln TabPFN model"},
	}
	for _, c := range cases {
		var err error
		used := allocatedBy(func() { _, err = LoadBytes(dev, c.file) })
		require.ErrorContains(t, err, c.want, c.name)
		require.Less(t, used, uint64(4<<20), "%s: %d bytes allocated", c.name, used)
	}
	require.Len(t, hostile(wide), 209)
}

// A parameter of the wrong dtype or with non-finite values is refused before the model is
// built; optimizer entries beside the parameters are ignored.
func TestParameterValuesAreChecked(t *testing.T) {
	dev := device.MustGet("cpu")
	f, err := checkpoint.Decode(tinyModelFile(t, tinyConfig(), false))
	require.NoError(t, err)
	edit := func(name string, fn func(e *checkpoint.Entry)) []byte {
		g := &checkpoint.File{Entries: map[string]checkpoint.Entry{}, Metadata: f.Metadata}
		for n, e := range f.Entries {
			g.Entries[n] = e
		}
		e := g.Entries[name]
		fn(&e)
		g.Entries[name] = e
		return legacyBytes(t, g)
	}
	const w = "model.layers.0.mlp.layers.0.weight"
	_, err = LoadBytes(dev, edit(w, func(e *checkpoint.Entry) {
		e.F64 = make([]float64, len(e.F32))
		e.F32 = nil
	}))
	require.ErrorContains(t, err, `parameter "`+w+`" has dtype F64, want F32`)
	_, err = LoadBytes(dev, edit(w, func(e *checkpoint.Entry) {
		e.F32 = append([]float32(nil), e.F32...)
		e.F32[3] = float32(math.Inf(-1))
	}))
	require.ErrorContains(t, err, `parameter "`+w+`" holds non-finite values`)
	g := &checkpoint.File{Entries: map[string]checkpoint.Entry{"opt.x": {Name: "opt.x", Shape: []int{1}, F64: []float64{1}}}, Metadata: f.Metadata}
	for n, e := range f.Entries {
		g.Entries[n] = e
	}
	m, err := LoadBytes(dev, legacyBytes(t, g))
	require.NoError(t, err)
	m.Release()
}
