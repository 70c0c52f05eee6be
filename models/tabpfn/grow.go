package tabpfn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/tensor"
)

// Deepen returns a deeper copy of m on m's device, a model of the given number of layers that
// computes almost the same function as m: the new layers are spread evenly behind m's (with 4
// layers made 8, each old layer is followed by one new one), and each new layer starts as a
// near-identity:
//
//   - its attention and MLP weights are copies of the old layer before it, except the
//     output projections of both attentions and the MLP's last layer, which are zero, so
//     each residual branch adds nothing;
//   - its three layer norms take the parameters of the old layer's last norm.
//
// With zero branches a post-norm layer computes LN(LN(LN(x))) with those parameters, and x is
// itself the output of that norm (γ⊙n + β, n normalised per token), so the layer returns x up
// to how far γ is from a constant and β from zero (about 4% and 0.02 for the shipped model).
// Function-preserving growth in the spirit of Net2DeeperNet (Chen, Goodfellow and Shlens,
// "Net2Net", ICLR 2016); plain progressive stacking (Gong et al., ICML 2019: layer j a copy of
// layer j mod L) was tried first and took the shipped model's loss on its own prior from ~1.0
// to ~2.6, worse than chance. Training then grows the new branches from zero. It lets a lease
// of a few GPU minutes train a model deeper than the converged one it starts from, instead of
// starting over.
//
// Training the result starts a new run (NewTrainerFrom): optimizer state does not carry over.
func Deepen(m *Model, layers int) (*Model, error) {
	old := m.Cfg.Layers
	if layers <= old {
		return nil, fmt.Errorf("tabpfn: deepening needs more layers than the model's %d, got %d", old, layers)
	}
	cfg := m.Cfg
	cfg.Layers = layers
	// slot[i] is old layer i's new index; copies[i] the new layers behind it.
	slot, copies := make([]int, old), make([]int, old)
	next := 0
	for i := range old {
		copies[i] = (layers - old) / old
		if i < (layers-old)%old {
			copies[i]++
		}
		slot[i] = next
		next += 1 + copies[i]
	}
	byLayer := make([]map[string]checkpoint.Entry, old)
	f := &checkpoint.File{Entries: map[string]checkpoint.Entry{}, Metadata: map[string]string{MetaConfig: cfg.JSON()}}
	const prefix = "model.layers."
	for _, e := range m.Entries() {
		if !strings.HasPrefix(e.Name, prefix) {
			f.Entries[e.Name] = e
			continue
		}
		i, rest, ok := strings.Cut(e.Name[len(prefix):], ".")
		src, err := strconv.Atoi(i)
		if !ok || err != nil || src < 0 || src >= old {
			return nil, fmt.Errorf("tabpfn: unexpected parameter name %q", e.Name)
		}
		if byLayer[src] == nil {
			byLayer[src] = map[string]checkpoint.Entry{}
		}
		byLayer[src][rest] = e
	}
	put := func(layer int, rest string, e checkpoint.Entry) {
		e.Name = prefix + strconv.Itoa(layer) + "." + rest
		f.Entries[e.Name] = e
	}
	for i, params := range byLayer {
		for rest, e := range params {
			put(slot[i], rest, e)
		}
		for c := 1; c <= copies[i]; c++ {
			for rest, e := range params {
				switch {
				case isBranchOutput(rest):
					e.F32 = make([]float32, len(e.F32))
				case strings.HasPrefix(rest, "norm"):
					_, field, _ := strings.Cut(rest, ".")
					e = params["norm3."+field]
				}
				put(slot[i]+c, rest, e)
			}
		}
	}
	if m.Cfg.Regression() {
		f.Entries[bordersEntry] = checkpoint.Entry{Name: bordersEntry, Shape: []int{cfg.Bins + 1}, F64: m.Bars.Borders()}
	}
	return FromFile(m.Dev, f)
}

// isBranchOutput reports whether a layer parameter (named without the layer prefix) is the
// last projection of a residual branch: zeroing these makes the branch add nothing.
func isBranchOutput(rest string) bool {
	return strings.HasPrefix(rest, "feature_attn.out.") || strings.HasPrefix(rest, "row_attn.out.") ||
		strings.HasPrefix(rest, "mlp.layers.1.")
}

// NewTrainerFrom starts a new training run (step 0, fresh optimizer state) from the
// parameters of an existing model, such as a shipped one or one made by Deepen; the model's
// own Config is the run's.
func NewTrainerFrom(m *Model, tc TrainConfig, path string) (*Trainer, error) {
	return newTrainer(m, tc, path)
}

// ToRegression returns a regression model (bins output bins, Bars left for the trainer to
// set from the prior) on m's device whose body is a copy of the classifier m's: the cell
// and feature encoders, every layer, and the decoder's hidden layer, which reads the same
// target token. The target value encoder and the decoder's output layer are new, drawn from
// seed. Training it on the regression prior starts from a body that already reads tables,
// rather than from random weights (see bench/results/tabpfn-regression-2026-12-03.md for
// what that gained).
func ToRegression(m *Model, bins int, seed uint64) (*Model, error) {
	if m.Cfg.Regression() {
		return nil, errors.New("tabpfn: ToRegression needs a classifier; the model is already a regression model")
	}
	r, err := New(m.Dev, m.Cfg.AsRegression(bins), seed)
	if err != nil {
		return nil, err
	}
	src := map[string]*tensor.Tensor{}
	for _, n := range m.NamedParameters() {
		src[n.Name] = n.Tensor
	}
	err = tensor.Catch(func() error {
		for _, n := range r.NamedParameters() {
			from, ok := src[n.Name]
			if !ok || strings.HasPrefix(n.Name, "decoder.layers.1.") || !tensor.SameShape(from.Shape(), n.Tensor.Shape()) {
				continue
			}
			if err := r.Dev.CopyFromHost(n.Tensor.Buffer(), from.Float32s()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.Release()
		return nil, err
	}
	return r, nil
}
