package tabpfn

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/device"
)

var writeFuzzSeeds = flag.Bool("write-fuzz-seeds", false, "rewrite the committed seed corpora of FuzzLoadBytes and FuzzModelConfig")

// fuzzConfig is the model the fuzz targets load: small, so that an input that loads costs
// little, and with every kind of parameter.
func fuzzConfig() Config {
	return Config{Layers: 1, Width: 4, Heads: 2, MLPWidth: 4, FeatureDim: 2, MaxClasses: 2, MaxFeatures: 2, MaxRows: 4}
}

// heapAllocated is the heap allocated so far, read without stopping the world.
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// loadAllocBound is the most LoadBytes may allocate for an n-byte file: decoding (a small
// multiple of n, see checkpoint's bound), the model and its host copies (a few times n,
// since every parameter must be in the file) and a constant.
func loadAllocBound(n int) uint64 { return 100*uint64(n) + 4<<20 }

// configSeeds are model configs for FuzzModelConfig: the loadable one, the reported hostile
// ones, valid ones that disagree with the tensors, and malformed JSON.
func configSeeds() []string {
	ok := fuzzConfig().JSON()
	return []string{
		ok,
		strings.Replace(ok, `"width":4`, `"width":200000`, 1),
		strings.Replace(ok, `"layers":1`, `"layers":1000000`, 1),
		strings.Replace(ok, `"heads":2`, `"heads":-2`, 1),
		strings.Replace(ok, `"layers":1`, `"layers":2`, 1),
		// Within every bound and far larger than the file: 200 million parameters.
		`{"layers":4,"width":2048,"heads":4,"mlp_width":4096,"feature_dim":16,"max_classes":10,"max_features":100,"max_train_rows":1024}`,
		strings.Replace(ok, `{`, `{"norm":"pre",`, 1),
		strings.Replace(ok, `{`, `{"width":8,`, 1),
		strings.Replace(ok, `"width":4`, `"width":1e400`, 1),
		ok + `{}`, `null`, `[]`, `{}`, ``,
	}
}

// fileSeeds are model files for FuzzLoadBytes: loadable ones with and without checksums, and
// the reported hostile ones.
func fileSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{
		"checksummed": tinyModelFile(t, fuzzConfig(), false),
		"legacy":      tinyModelFile(t, fuzzConfig(), true),
		"no-config":   metadataOnly(t, map[string]string{"format": "kiln-tabpfn-v1"}, 0),
	}
	for i, c := range configSeeds()[1:3] {
		seeds["hostile-"+strconv.Itoa(i)] = metadataOnly(t, map[string]string{MetaConfig: c}, 209)
	}
	return seeds
}

// TestWriteModelFuzzSeeds writes the seeds as the committed corpora when -write-fuzz-seeds
// is set.
func TestWriteModelFuzzSeeds(t *testing.T) {
	if !*writeFuzzSeeds {
		t.Skip("-write-fuzz-seeds not set")
	}
	write := func(target, name, value string) {
		dir := filepath.Join("testdata", "fuzz", target)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "seed-"+name), []byte("go test fuzz v1\n"+value+"\n"), 0o644))
	}
	for name, b := range fileSeeds(t) {
		write("FuzzLoadBytes", name, "[]byte("+strconv.Quote(string(b))+")")
	}
	for i, c := range configSeeds() {
		write("FuzzModelConfig", strconv.Itoa(i), "string("+strconv.Quote(c)+")")
	}
}

// FuzzLoadBytes feeds arbitrary bytes to LoadBytes on the CPU. Invariants: no panic; memory
// within loadAllocBound of the input's size; a model that loads has every parameter backed
// by the file's bytes.
func FuzzLoadBytes(f *testing.F) {
	for _, b := range fileSeeds(f) {
		f.Add(b)
	}
	dev := device.MustGet("cpu")
	f.Fuzz(func(t *testing.T, b []byte) {
		before := heapAllocated()
		m, err := LoadBytes(dev, b)
		if used := heapAllocated() - before; used > loadAllocBound(len(b)) {
			t.Fatalf("LoadBytes allocated %d bytes for %d bytes of input (err %v)", used, len(b), err)
		}
		if err != nil {
			return
		}
		defer m.Release()
		if n := m.Cfg.ParameterCount(); 4*n > len(b) {
			t.Fatalf("a %d-byte file loaded a model of %d parameters", len(b), n)
		}
	})
}

// FuzzModelConfig loads fuzzConfig's tensors (without checksums, so that the config is what
// is tested) under an arbitrary config string. Invariants: no panic; a few MB of memory at
// most, whatever the config asks for; a config that loads describes exactly those tensors.
func FuzzModelConfig(f *testing.F) {
	for _, c := range configSeeds() {
		f.Add(c)
	}
	base, err := checkpoint.Decode(tinyModelFile(f, fuzzConfig(), true))
	require.NoError(f, err)
	dev := device.MustGet("cpu")
	f.Fuzz(func(t *testing.T, cfg string) {
		file := &checkpoint.File{Entries: base.Entries, Metadata: map[string]string{MetaConfig: cfg}}
		before := heapAllocated()
		m, err := FromFile(dev, file)
		if used := heapAllocated() - before; used > 4<<20 {
			t.Fatalf("FromFile allocated %d bytes for config %q (err %v)", used, cfg, err)
		}
		if err != nil {
			return
		}
		defer m.Release()
		if !reflect.DeepEqual(m.Cfg.parameterShapes(), fuzzConfig().parameterShapes()) {
			t.Fatalf("config %q loaded tensors of another config", cfg)
		}
	})
}
