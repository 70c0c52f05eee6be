package tabpfn

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/models/tabpfn/prior"
	"github.com/kiln-ml/kiln/models/tabpfn/selfsup"
	"github.com/kiln-ml/kiln/nn"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/tensor"
)

// Auxiliary self-supervised losses on the tables of the corpus's column tasks (package
// selfsup), added to the task's own loss in the same forward pass:
//
//   - masked cells (VIME: Yoon, Zhang, Jordon and van der Schaar, "VIME: Extending the
//     Success of Self- and Semi-supervised Learning to Tabular Domain", NeurIPS 2020; BERT's
//     masked tokens): a share CorpusConfig.MaskRate of the feature cells of every row take
//     the model's missing-value encoding (the cell encoder's [0, 1] input, so the model gains
//     no parameter), and a small head reconstructs each from its cell token after the last
//     layer: a numeric cell's standardised value by squared error, a categorical cell's
//     category (among the model's MaxClasses; cells of a higher code are not scored) by
//     cross-entropy over its column's categories;
//   - contrastive rows (SCARF: Bahri, Jiang, Tay and Metzler, "SCARF: Self-Supervised
//     Contrastive Learning using Random Feature Corruption", ICLR 2022): two corrupted views
//     of each test row (selfsup.CorruptRows) enter the same forward pass as further test rows
//     (test rows attend only to the context rows, so they change nothing else); each view's
//     representation is its target token after the last layer, the vector Classifier.Embed
//     returns, passed through a small projection head and normalised; InfoNCE with
//     temperature CorpusConfig.Temperature then asks each first view to pick its own second
//     view among the second views of the dataset's test rows.
//
// Each is the mean over the batch's datasets of the dataset's mean over its scored cells or
// rows, so that micro-batches and ranks split it exactly as they split the task's loss.
// Both heads are parameters of the trainer, not of the model: they are saved in training
// checkpoints under "ssl." (and their optimizer state under "opt.ssl."), so a run resumes
// exactly, and never in an exported model, which stays what FromFile loads and Forward runs.

// Defaults of the auxiliary losses' settings.
const (
	// DefaultMaskedWeight weighs the masked-cell loss against the task's own.
	DefaultMaskedWeight = 0.5
	// DefaultContrastiveWeight weighs the contrastive loss against the task's own.
	DefaultContrastiveWeight = 0.5
	// DefaultInfoNCETemperature is InfoNCE's temperature: SCARF's default, τ = 1 (Bahri et
	// al. 2022).
	DefaultInfoNCETemperature = 1.0
)

// sslPrefix starts the checkpoint names of the auxiliary heads' parameters.
const sslPrefix = "ssl."

// streamSSL separates the heads' initialisation from the model's.
const streamSSL uint64 = 0x55a1

// Bounds of the auxiliary settings read from a checkpoint.
const (
	maxAuxWeight      = 1000
	minTemperature    = 1e-3
	maxTemperature    = 1e3
	auxRateLowerBound = 0 // rates lie in (0, 1]
)

// has reports whether the corpus settings list task.
func (c *CorpusConfig) has(task string) bool { return c != nil && slices.Contains(c.Tasks, task) }

// withDefaults returns c with the settings of its auxiliary tasks defaulted where zero and
// those of tasks it does not run cleared.
func (c CorpusConfig) withDefaults() CorpusConfig {
	if c.has(selfsup.TaskMasked) {
		c.MaskRate = cmpOr(c.MaskRate, selfsup.DefaultMaskRate)
		c.MaskedWeight = cmpOr(c.MaskedWeight, DefaultMaskedWeight)
	} else {
		c.MaskRate, c.MaskedWeight = 0, 0
	}
	if c.has(selfsup.TaskContrastive) {
		c.CorruptionRate = cmpOr(c.CorruptionRate, selfsup.DefaultCorruptionRate)
		c.ContrastiveWeight = cmpOr(c.ContrastiveWeight, DefaultContrastiveWeight)
		c.Temperature = cmpOr(c.Temperature, DefaultInfoNCETemperature)
	} else {
		c.CorruptionRate, c.ContrastiveWeight, c.Temperature = 0, 0, 0
	}
	return c
}

func cmpOr(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// validateAux checks the auxiliary settings (zero means the default).
func (c CorpusConfig) validateAux() error {
	for _, f := range []struct {
		name      string
		v, lo, hi float64
		open      bool
	}{
		{"mask_rate", c.MaskRate, auxRateLowerBound, 1, false},
		{"masked_weight", c.MaskedWeight, 0, maxAuxWeight, false},
		{"corruption_rate", c.CorruptionRate, auxRateLowerBound, 1, false},
		{"contrastive_weight", c.ContrastiveWeight, 0, maxAuxWeight, false},
		{"temperature", c.Temperature, 0, maxTemperature, false},
	} {
		if err := floatInRange("corpus "+f.name, f.v, f.lo, f.hi, f.open); err != nil {
			return err
		}
	}
	if c.Temperature != 0 && c.Temperature < minTemperature {
		return fmt.Errorf("tabpfn: corpus temperature %v is below the minimum of %v", c.Temperature, minTemperature)
	}
	for _, f := range []struct {
		name string
		v    float64
		task string
	}{
		{"mask_rate", c.MaskRate, selfsup.TaskMasked},
		{"masked_weight", c.MaskedWeight, selfsup.TaskMasked},
		{"corruption_rate", c.CorruptionRate, selfsup.TaskContrastive},
		{"contrastive_weight", c.ContrastiveWeight, selfsup.TaskContrastive},
		{"temperature", c.Temperature, selfsup.TaskContrastive},
	} {
		if f.v != 0 && !c.has(f.task) {
			return fmt.Errorf("tabpfn: corpus %s %v is set but the tasks %v do not include %q", f.name, f.v, c.Tasks, f.task)
		}
	}
	return nil
}

// sslHeads are the training-only parameters of the auxiliary losses (nil fields for the
// tasks a run does not have).
type sslHeads struct {
	// masked maps a cell token to [standardised value, MaxClasses category logits].
	masked *nn.MLP
	// proj maps a target token to the vector InfoNCE compares (SCARF's projection head).
	proj *nn.MLP
}

// sslShapes are the head sizes of a model of config cfg: a hidden layer of the model's
// width each, so that their size follows ConfigBounds.
func sslShapes(cfg Config) (masked, proj []int) {
	W := cfg.Width
	return []int{W, W, 1 + cfg.MaxClasses}, []int{W, W, W}
}

// newSSLHeads builds the heads of cc's auxiliary tasks for a model of config cfg (nil when
// cc has none), initialised from seed.
func newSSLHeads(dev device.Device, cfg Config, cc *CorpusConfig, seed uint64) (*sslHeads, error) {
	if !cc.has(selfsup.TaskMasked) && !cc.has(selfsup.TaskContrastive) {
		return nil, nil
	}
	if cfg.Regression() {
		return nil, fmt.Errorf("tabpfn: the %q and %q tasks train a classifier; this is a regression model", selfsup.TaskMasked, selfsup.TaskContrastive)
	}
	h := &sslHeads{}
	ms, ps := sslShapes(cfg)
	err := tensor.Catch(func() error {
		gen := tensor.NewGenerator(mix(seed, 0, streamSSL))
		var err error
		if cc.has(selfsup.TaskMasked) {
			if h.masked, err = nn.NewMLP(dev, tensor.Float32, ms, ops.Gelu, nn.XavierUniform, gen); err != nil {
				return err
			}
		}
		if cc.has(selfsup.TaskContrastive) {
			h.proj, err = nn.NewMLP(dev, tensor.Float32, ps, ops.Gelu, nn.XavierUniform, gen)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// namedParameters lists the heads' parameters under their checkpoint names (less "ssl.").
func (h *sslHeads) namedParameters() []nn.Named {
	if h == nil {
		return nil
	}
	var ns []nn.Named
	add := func(prefix string, mod *nn.MLP) {
		if mod == nil {
			return
		}
		for _, n := range mod.NamedParameters() {
			ns = append(ns, nn.Named{Name: prefix + "." + n.Name, Tensor: n.Tensor})
		}
	}
	add("masked", h.masked)
	add("contrastive", h.proj)
	return ns
}

// optimParams are the heads' parameters as the optimizer names them.
func (h *sslHeads) optimParams() []optim.Param {
	var ps []optim.Param
	for _, n := range h.namedParameters() {
		ps = append(ps, optim.Param{Name: sslPrefix + n.Name, T: n.Tensor})
	}
	return ps
}

// entries returns the heads' parameters as checkpoint entries.
func (h *sslHeads) entries() []checkpoint.Entry {
	var es []checkpoint.Entry
	for _, n := range h.namedParameters() {
		es = append(es, checkpoint.Entry{Name: sslPrefix + n.Name, Shape: n.Tensor.Shape(), F32: n.Tensor.Float32s()})
	}
	return es
}

// load copies the heads' parameters from f's "ssl.*" entries, which must be exactly the
// heads' (names, shapes, float32, finite).
func (h *sslHeads) load(f *checkpoint.File) error {
	sub := &checkpoint.File{Entries: map[string]checkpoint.Entry{}, Metadata: f.Metadata}
	for name, e := range f.Entries {
		if strings.HasPrefix(name, sslPrefix) {
			sub.Entries[name] = e
		}
	}
	var want []checkpoint.Expect
	for _, n := range h.namedParameters() {
		want = append(want, checkpoint.Expect{Name: sslPrefix + n.Name, Shape: n.Tensor.Shape()})
	}
	if err := sub.Check(want); err != nil {
		return fmt.Errorf("tabpfn: auxiliary heads: %w", err)
	}
	for _, n := range h.namedParameters() {
		e := sub.Entries[sslPrefix+n.Name]
		if dt := e.DType(); dt != "F32" {
			return fmt.Errorf("tabpfn: parameter %q has dtype %s, want F32", sslPrefix+n.Name, dt)
		}
		for _, v := range e.F32 {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("tabpfn: parameter %q holds non-finite values (corrupt checkpoint)", sslPrefix+n.Name)
			}
		}
		if err := n.Tensor.Device().CopyFromHost(n.Tensor.Buffer(), e.F32); err != nil {
			return err
		}
	}
	return nil
}

// release frees the heads' parameters.
func (h *sslHeads) release() {
	for _, n := range h.namedParameters() {
		ops.ZeroGrad(n.Tensor)
		n.Tensor.Release()
	}
}

// sslInput is a batch's input with its auxiliary tasks' masks, views and targets, on the
// host.
type sslInput struct {
	in    Input   // masked cells set missing; the views appended as further test rows
	yTest []int32 // the task's test labels
	rows  int     // the task's rows per dataset (the views follow them)

	// Masked cells scored: token indices into the flattened [Batch·in.Rows·(Features+1)]
	// tokens, and for each the target and the weight 1/(scored cells of its dataset ×
	// datasets), numeric and categorical apart.
	numIdx, catIdx    []int32
	numValue          []float64
	catCode           []int32
	catLevels         []int // the column's categories, at most MaxClasses
	numWeight, catWgt []float64

	views bool // contrastive views follow each dataset's rows
}

// sslInputOf prepares the input of a classifier's batch b with the auxiliary tasks of cc
// (masks and views only for datasets drawn from the corpus, which carry prior.Cells).
func sslInputOf(b prior.Batch, featureSeed, seed uint64, cc *CorpusConfig, maxClasses int) sslInput {
	in, yTest := InputFromBatch(b, featureSeed)
	s := sslInput{in: in, yTest: yTest, rows: in.Rows}
	if cc == nil || len(b.Datasets) == 0 {
		return s
	}
	for _, d := range b.Datasets {
		if d.Cells == nil {
			return s // a prior batch (or one that fell back to the prior)
		}
	}
	c := cc.withDefaults()
	masked, views := c.has(selfsup.TaskMasked), c.has(selfsup.TaskContrastive)
	if !masked && !views {
		return s
	}
	B, R, F, N := in.Batch, in.Rows, in.Features, in.NTrain
	Q := R - N
	Rx := R
	if views {
		Rx = R + 2*Q
	}
	T := F + 1
	X := make([]float32, 0, B*Rx*F)
	for i := range b.Datasets {
		d := &b.Datasets[i]
		x := slices.Clone(d.X)
		if masked {
			cells := selfsup.MaskCells(seed, b.Index, d, c.MaskRate)
			var num, cat []int
			for _, cell := range cells {
				x[cell] = float32(math.NaN())
				f := cell % F
				if L := d.Cells.Levels[f]; L > 0 {
					if int(d.Cells.Codes[cell]) < maxClasses && d.Cells.Codes[cell] >= 0 {
						cat = append(cat, cell)
					}
				} else {
					num = append(num, cell)
				}
			}
			if n := len(num) + len(cat); n > 0 {
				w := 1 / (float64(n) * float64(B))
				tok := func(cell int) int32 { return int32((i*Rx+cell/F)*T + cell%F) }
				for _, cell := range num {
					s.numIdx = append(s.numIdx, tok(cell))
					s.numValue = append(s.numValue, float64(clamp(d.X[cell], -100, 100)))
					s.numWeight = append(s.numWeight, w)
				}
				for _, cell := range cat {
					s.catIdx = append(s.catIdx, tok(cell))
					s.catCode = append(s.catCode, d.Cells.Codes[cell])
					s.catLevels = append(s.catLevels, min(d.Cells.Levels[cell%F], maxClasses))
					s.catWgt = append(s.catWgt, w)
				}
			}
		}
		X = append(X, x...)
		if views {
			va, vb := selfsup.CorruptRows(seed, b.Index, d, c.CorruptionRate)
			X = append(append(X, va...), vb...)
		}
	}
	s.in.X, s.in.Rows, s.views = X, Rx, views
	return s
}

// maskedLoss is the masked-cell reconstruction loss of the final tokens x
// ([Batch, Rows, Features+1, Width]) with the reconstruction head, for the cells s scores
// (nil when it scores none).
func maskedLoss(x *tensor.Tensor, head func(*tensor.Tensor) *tensor.Tensor, s *sslInput, maxClasses int) *tensor.Tensor {
	if len(s.numIdx)+len(s.catIdx) == 0 {
		return nil
	}
	ec, dev, dt := x.Context(), x.Device(), x.DType()
	E := x.Dim(-1)
	tokens := ops.Reshape(x, x.Len()/E, E)
	var loss *tensor.Tensor
	add := func(l *tensor.Tensor) {
		if loss == nil {
			loss = l
		} else {
			loss = ops.Add(loss, l)
		}
	}
	if n := len(s.numIdx); n > 0 {
		out := head(ops.IndexSelect(tokens, 0, ec.FromInt32(dev, s.numIdx, n)))
		pred := ops.Reshape(ops.Slice(out, 1, 0, 1), n)
		diff := ops.Sub(pred, ec.FromFloat64As(dev, dt, s.numValue, n))
		add(ops.SumAll(ops.Mul(ops.Square(diff), ec.FromFloat64As(dev, dt, s.numWeight, n))))
	}
	if n := len(s.catIdx); n > 0 {
		K := maxClasses
		out := head(ops.IndexSelect(tokens, 0, ec.FromInt32(dev, s.catIdx, n)))
		mask := make([]float64, 0, n*K)
		for _, L := range s.catLevels {
			for k := range K {
				if k < L {
					mask = append(mask, 0)
				} else {
					mask = append(mask, -1e4)
				}
			}
		}
		logits := ops.Add(ops.Slice(out, 1, 1, 1+K), ec.FromFloat64As(dev, dt, mask, n, K))
		sum := 0.0
		for _, w := range s.catWgt {
			sum += w
		}
		// CrossEntropy divides by the weights' sum; the loss wants the weighted sum.
		ce := ops.CrossEntropy(logits, ec.FromInt32(dev, s.catCode, n), ec.FromFloat64As(dev, dt, s.catWgt, n))
		add(ops.MulScalar(ce, sum))
	}
	return loss
}

// contrastiveLoss is the InfoNCE loss of the views' target tokens in the final tokens x
// ([Batch, Rows+2Q, Features+1, Width], the views at rows Rows.. of each dataset) with the
// projection head, at temperature temp: for each test row, −log of the softmax, over the
// dataset's second views, of its first view's similarity (cosine, over temp) to its own
// second view; the mean over rows and datasets.
func contrastiveLoss(x *tensor.Tensor, proj func(*tensor.Tensor) *tensor.Tensor, rows, nTrain int, temp float64) *tensor.Tensor {
	ec, dev := x.Context(), x.Device()
	B, T, E := x.Dim(0), x.Dim(2), x.Dim(3)
	Q := rows - nTrain
	tok := ops.Reshape(ops.Slice(ops.Slice(x, 2, T-1, T), 1, rows, rows+2*Q), B, 2*Q, E)
	z := proj(tok)
	// Cosine similarity: z / sqrt(|z|² + ε).
	z = ops.Mul(z, ops.Rsqrt(ops.AddScalar(ops.Sum(ops.Square(z), true, -1), 1e-12)))
	za, zb := ops.Slice(z, 1, 0, Q), ops.Slice(z, 1, Q, 2*Q)
	sim := ops.MulScalar(ops.MatmulT(za, zb, false, true), 1/temp) // [B, Q, Q]
	targets := make([]int32, B*Q)
	for i := range targets {
		targets[i] = int32(i % Q)
	}
	return ops.CrossEntropy(ops.Reshape(sim, B*Q, Q), ec.FromInt32(dev, targets, B*Q), nil)
}

// sslLosses runs the model on s and returns the task's loss and the auxiliary losses s
// asks for (nil otherwise).
func (m *Model) sslLosses(ec *tensor.Context, s *sslInput, h *sslHeads, temp float64) (task, masked, contrastive *tensor.Tensor) {
	in := s.in
	x := m.body(ec, in)
	logits := m.decode(ec, in, x, in.NTrain, s.rows)
	n := in.Batch * (s.rows - in.NTrain)
	task = ops.CrossEntropy(ops.Reshape(logits, n, m.Cfg.MaxClasses), ec.FromInt32(m.Dev, s.yTest, n), nil)
	if h != nil && h.masked != nil {
		masked = maskedLoss(x, h.masked.Forward, s, m.Cfg.MaxClasses)
	}
	if h != nil && h.proj != nil && s.views {
		contrastive = contrastiveLoss(x, h.proj.Forward, s.rows, in.NTrain, temp)
	}
	return task, masked, contrastive
}

// classifierLoss is the loss a classifier's step trains on for batch part (the task's own
// plus, on a corpus batch, the weighted auxiliary losses), with the values of the task's
// loss and of each auxiliary loss (0 when absent).
func (t *Trainer) classifierLoss(ec *tensor.Context, part prior.Batch, featureSeed uint64) (l *tensor.Tensor, task, masked, contrastive float64) {
	if t.ssl == nil {
		in, yTest := InputFromBatch(part, featureSeed)
		l = t.Model.Loss(ec, in, yTest)
		return l, l.Item(), 0, 0
	}
	cc := t.Cfg.Corpus.withDefaults()
	s := sslInputOf(part, featureSeed, t.Cfg.Seed, &cc, t.Model.Cfg.MaxClasses)
	lt, lm, lc := t.Model.sslLosses(ec, &s, t.ssl, cc.Temperature)
	l, task = lt, lt.Item()
	if lm != nil {
		masked = lm.Item()
		l = ops.Add(l, ops.MulScalar(lm, cc.MaskedWeight))
	}
	if lc != nil {
		contrastive = lc.Item()
		l = ops.Add(l, ops.MulScalar(lc, cc.ContrastiveWeight))
	}
	return l, task, masked, contrastive
}

// HeldOutAuxLoss returns the mean masked-cell and contrastive losses (each 0 when the run
// has not that task) of the trainer's model and heads on batches batches of tasks drawn
// from the corpus tables that the run's HoldoutEvery keeps out of training, with the run's
// shapes and settings; seed draws the tasks, masks and views (as HeldOutCorpusLoss's config
// seed does), so runs of any seed are scored on the same ones. Gradients are not recorded.
func (t *Trainer) HeldOutAuxLoss(batches int, seed uint64) (masked, contrastive float64, err error) {
	tc := t.Cfg
	tc.Seed = seed
	if tc.Corpus == nil || tc.Corpus.HoldoutEvery < 2 {
		return 0, 0, fmt.Errorf("tabpfn: held-out auxiliary losses need a corpus with holdout_every of 2 or more")
	}
	if t.ssl == nil {
		return 0, 0, fmt.Errorf("tabpfn: the run has no %q or %q task", selfsup.TaskMasked, selfsup.TaskContrastive)
	}
	if batches < 1 {
		return 0, 0, fmt.Errorf("tabpfn: held-out auxiliary losses need at least one batch, got %d", batches)
	}
	tc.Prior.Seed = seed
	cc := tc.Corpus.withDefaults()
	err = eachHeldOutBatch(tc, batches, func(ec *tensor.Context, b uint64, batch prior.Batch) {
		s := sslInputOf(batch, tc.Seed*1_000_003+b, tc.Seed, &cc, t.Model.Cfg.MaxClasses)
		_, lm, lc := t.Model.sslLosses(ec, &s, t.ssl, cc.Temperature)
		if lm != nil {
			masked += lm.Item()
		}
		if lc != nil {
			contrastive += lc.Item()
		}
	})
	if err != nil {
		return 0, 0, err
	}
	return masked / float64(batches), contrastive / float64(batches), nil
}
