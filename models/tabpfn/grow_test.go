package tabpfn

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/device"
)

// withNorm3 returns a copy of m whose layer i's last norm has γ = scale[i] (a constant) and
// β = 0: the case in which Deepen's new layers are exactly the identity.
func withNorm3(t *testing.T, m *Model, scale []float32) *Model {
	f := &checkpoint.File{Entries: map[string]checkpoint.Entry{}, Metadata: map[string]string{MetaConfig: m.Cfg.JSON()}}
	for _, e := range m.Entries() {
		for i, s := range scale {
			p := fmt.Sprintf("model.layers.%d.norm3.", i)
			switch e.Name {
			case p + "weight", p + "bias":
				v := float32(0)
				if strings.HasSuffix(e.Name, "weight") {
					v = s
				}
				e.F32 = make([]float32, len(e.F32))
				for j := range e.F32 {
					e.F32[j] = v
				}
			}
		}
		f.Entries[e.Name] = e
	}
	out, err := FromFile(m.Dev, f)
	require.NoError(t, err)
	return out
}

func TestDeepenPreservesTheFunction(t *testing.T) {
	dev := device.MustGet("cpu")
	fresh, err := New(dev, tinyConfig(), 3)
	require.NoError(t, err)
	defer fresh.Release()
	m := withNorm3(t, fresh, []float32{0.8, 1.3})
	defer m.Release()
	in, _ := batchInput(smallPrior(t).Batch(2))
	want, err := m.Probabilities(in, 1)
	require.NoError(t, err)
	params := map[string][]float32{}
	for _, e := range m.Entries() {
		params[e.Name] = e.F32
	}

	for _, layers := range []int{4, 5} {
		deep, err := Deepen(m, layers)
		require.NoError(t, err)
		require.Equal(t, layers, deep.Cfg.Layers)
		// Old layer 0 stays first; with 5 layers it is followed by two new ones, layer 1 by one.
		slot1 := map[int]int{4: 2, 5: 3}[layers]
		got := map[string][]float32{}
		for _, e := range deep.Entries() {
			got[e.Name] = e.F32
		}
		perLayer := countLayerParams(params) / 2
		require.Len(t, got, len(params)+(layers-2)*perLayer)
		require.Equal(t, params["model.layers.1.row_attn.q.weight"], got[fmt.Sprintf("model.layers.%d.row_attn.q.weight", slot1)])
		require.Equal(t, params["model.layers.0.mlp.layers.0.weight"], got["model.layers.1.mlp.layers.0.weight"], "new layer copies the old one's inner weights")
		require.Equal(t, params["model.layers.0.norm3.weight"], got["model.layers.1.norm1.weight"], "new layer's norms are the old layer's last")
		for _, n := range []string{"feature_attn.out.weight", "row_attn.out.bias", "mlp.layers.1.weight"} {
			for _, v := range got["model.layers.1."+n] {
				require.Zero(t, v, n)
			}
		}
		require.Equal(t, params["model.decoder.layers.1.weight"], got["model.decoder.layers.1.weight"])

		p, err := deep.Probabilities(in, 1)
		require.NoError(t, err)
		worst := 0.0
		for b := range want {
			for i := range want[b] {
				worst = math.Max(worst, math.Abs(p[b][i]-want[b][i]))
			}
		}
		require.Less(t, worst, 1e-4, "%d layers: probabilities moved by %g", layers, worst)
		deep.Release()
	}

	_, err = Deepen(m, 2)
	require.ErrorContains(t, err, "more layers than the model's 2")
}

func countLayerParams(params map[string][]float32) int {
	n := 0
	for k := range params {
		if strings.HasPrefix(k, "model.layers.") {
			n++
		}
	}
	return n
}
