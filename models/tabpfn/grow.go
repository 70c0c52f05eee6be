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
// to how far γ is from a constant and β from zero (a few percent for the shipped model).
// Function-preserving growth in the spirit of Net2DeeperNet (Chen, Goodfellow and Shlens,
// "Net2Net", ICLR 2016); plain progressive stacking (Gong et al., ICML 2019: layer j a copy of
// layer j mod L) does not preserve the function: it takes the shipped model's loss on its
// own prior to worse than chance. Training then grows the new branches from zero, so a few
// GPU minutes can train a model deeper than the converged one it starts from, instead of
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

// ToRegression returns a regression model with the bar distribution bars, on m's device,
// that starts as the classifier m's binary classifier of low against high targets:
//
//   - the body (cell and feature encoders, every layer, the decoder's hidden layer) is a
//     copy of m's;
//   - the target encoder maps a training row's standardised target y to E₀ + (y+1)/2·(E₁ − E₀),
//     with E₀ and E₁ the classifier's embeddings of classes 0 and 1 (so y = −1 looks like
//     class 0 and y = 1 like class 1, and other values lie on the line through them), and a
//     test row to the classifier's test placeholder;
//   - the logit of bin k of B is the classifier's logit of class 0 plus (k+½)/B times the
//     difference to class 1's: the bins carry equal shares of the prior's targets, so
//     (k+½)/B is the bin's place in that distribution, and the prediction moves mass from
//     the low bins to the high ones as the classifier's odds of class 1 rise (a low and a
//     high half of the prior's distribution, weighted by the classifier's odds of class 0
//     and class 1, with the bins between them in between).
//
// Training on the regression prior then starts from a model that already reads tables and
// already moves its prediction with the targets of similar rows, rather than from new heads
// whose tokens the body has never seen (see bench/results/tabpfn-regression-2026-12-03.md
// for what each start gained).
func ToRegression(m *Model, bars *Bars) (*Model, error) {
	if m.Cfg.Regression() {
		return nil, errors.New("tabpfn: ToRegression needs a classifier; the model is already a regression model")
	}
	if bars == nil {
		return nil, errors.New("tabpfn: ToRegression needs the bar distribution")
	}
	r, err := New(m.Dev, m.Cfg.AsRegression(bars.Bins()), 0)
	if err != nil {
		return nil, err
	}
	r.Bars = bars
	src := map[string]*tensor.Tensor{}
	for _, n := range m.NamedParameters() {
		src[n.Name] = n.Tensor
	}
	err = tensor.Catch(func() error {
		set := func(t *tensor.Tensor, v []float32) error { return r.Dev.CopyFromHost(t.Buffer(), v) }
		for _, n := range r.NamedParameters() {
			from, ok := src[n.Name]
			if !ok || strings.HasPrefix(n.Name, "decoder.layers.1.") || !tensor.SameShape(from.Shape(), n.Tensor.Shape()) {
				continue
			}
			if err := set(n.Tensor, from.Float32s()); err != nil {
				return err
			}
		}
		// Target encoder, weight [W, 2] (columns: the value, the test flag), bias [W].
		W, K := m.Cfg.Width, m.Cfg.MaxClasses
		emb := m.target.Weight.Float32s() // [K+1, W]: classes, then the placeholder
		w := make([]float32, 2*W)
		b := make([]float32, W)
		for i := range W {
			e0, e1, ph := emb[i], emb[W+i], emb[K*W+i]
			b[i] = (e0 + e1) / 2
			w[2*i] = (e1 - e0) / 2
			w[2*i+1] = ph - b[i]
		}
		if err := set(r.targetValue.Weight, w); err != nil {
			return err
		}
		if err := set(r.targetValue.Bias, b); err != nil {
			return err
		}
		// Output layer, weight [Bins, H], bias [Bins], from the classifier's rows 0 and 1.
		H := m.Cfg.MLPWidth
		cw, cb := m.dec.Layers[1].Weight.Float32s(), m.dec.Layers[1].Bias.Float32s()
		ow := make([]float32, bars.Bins()*H)
		ob := make([]float32, bars.Bins())
		for k := range ob {
			t := (float32(k) + 0.5) / float32(len(ob))
			for j := range H {
				ow[k*H+j] = cw[j] + t*(cw[H+j]-cw[j])
			}
			ob[k] = cb[0] + t*(cb[1]-cb[0])
		}
		if err := set(r.dec.Layers[1].Weight, ow); err != nil {
			return err
		}
		return set(r.dec.Layers[1].Bias, ob)
	})
	if err != nil {
		r.Release()
		return nil, err
	}
	return r, nil
}
