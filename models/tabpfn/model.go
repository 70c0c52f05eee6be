// Package tabpfn is kiln's TabPFN: a transformer trained once on synthetic tabular datasets
// drawn from a prior (package prior) that classifies a new small dataset in one forward pass,
// its training rows serving as context (Hollmann, Müller, Eggensperger and Hutter, "TabPFN: A
// transformer that solves small tabular classification problems in a second", ICLR 2023;
// Hollmann et al., "Accurate predictions on small data with a tabular foundation model",
// Nature 2025, for the cell-token architecture used here; and Pfefferle et al.,
// "nanoTabPFN", 2025, for the small-model recipe).
//
// # Architecture
//
// Every cell of the table is a token. A cell's value (standardised on the training rows,
// missing values set to 0 with a missing flag) goes through a linear encoder; a per-feature
// embedding, a random vector per column mapped by a learned linear layer, is added so that
// columns are told apart without fixing their order or count (TabPFN v2's random feature
// embeddings). Each row also gets a target token: the embedded class for training rows and a
// learned placeholder for test rows. Each layer then runs
//
//  1. attention across the tokens of a row (features and target),
//  2. attention across rows within each column, where every row attends only to the
//     training rows (the PFN context mask),
//  3. an MLP,
//
// each with a residual connection and a layer norm (post-norm, as TabPFN). A decoder MLP maps
// the target token of each test row to MaxClasses logits; logits of classes a dataset does not
// have are masked.
//
// # Beyond the prior
//
// Pre-training can mix in self-supervised tasks from real tables (TrainConfig.Corpus: package
// selfsup's column-as-target tasks, after TabDPT, Ma et al. 2024), optionally with auxiliary
// losses on their tables: masked-cell reconstruction (VIME, Yoon et al. 2020) and contrastive
// corrupted rows (SCARF, Bahri et al. 2022), whose heads are training-only (ssl.go). A fitted
// Classifier also
// gives row embeddings (Classifier.Embed: a test row's target token after the last layer),
// and FineTune adapts a copy of a model to one table, with early stopping on held-out rows.
//
// # Regression
//
// A regression model (Config.Task TaskRegression) has the same body. Its target tokens
// encode the standardised target of a training row as a number (and a test row by a flag),
// and its decoder gives the logits of the bins of a bar distribution over the standardised
// target (Bars; Müller et al. 2022, and TabPFN v2's regression head), trained by negative
// log-likelihood on the regression datasets of the prior. Regressor wraps it as Classifier
// wraps a classifier; ToRegression starts one from a trained classifier.
package tabpfn

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/nn"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// Config sizes the model; it is saved in every checkpoint's metadata.
type Config struct {
	Layers      int `json:"layers"`
	Width       int `json:"width"`        // token embedding size
	Heads       int `json:"heads"`        // attention heads (Width must divide by Heads)
	MLPWidth    int `json:"mlp_width"`    // hidden size of each layer's MLP
	FeatureDim  int `json:"feature_dim"`  // size of the random per-feature vectors
	MaxClasses  int `json:"max_classes"`  // output logits
	MaxFeatures int `json:"max_features"` // features per dataset the model was trained for
	MaxRows     int `json:"max_train_rows"`
	// Task is "" for a classifier and TaskRegression for a regressor, which has no class
	// outputs (MaxClasses 0): its target tokens encode a number and its decoder gives the
	// logits of Bins bins of a bar distribution (see Bars) over the standardised target.
	Task string `json:"task,omitempty"`
	Bins int    `json:"bins,omitempty"`
	// TrainedFeatures is the most features of the tables the model has been trained on (the
	// widest prior of every training phase; 0: not recorded, as in models saved before it
	// was). It sets the default number of features an ensemble member presents: see
	// DefaultMemberFeatures.
	TrainedFeatures int `json:"trained_features,omitempty"`
}

// trainedWidth is the most features the model was trained on: TrainedFeatures where
// recorded, MaxFeatures (what the config was made for) otherwise.
func (c Config) trainedWidth() int {
	if c.TrainedFeatures > 0 {
		return c.TrainedFeatures
	}
	return c.MaxFeatures
}

// TaskRegression is Config.Task of a regression model.
const TaskRegression = "regression"

// DefaultBins is the number of bins of a new regression model's bar distribution.
const DefaultBins = 1000

// Regression reports whether the config describes a regression model.
func (c Config) Regression() bool { return c.Task == TaskRegression }

// AsRegression returns the config of a regression model with c's body (layers, widths,
// limits) and bins output bins.
func (c Config) AsRegression(bins int) Config {
	c.Task, c.Bins, c.MaxClasses = TaskRegression, bins, 0
	return c
}

// SmallConfig is a 162k-parameter model (3 layers of width 64), small enough to pre-train on
// a laptop CPU in a few hours; `kiln tabpfn train` starts a new run at this size unless
// --config or --init gives another.
func SmallConfig() Config {
	return Config{Layers: 3, Width: 64, Heads: 4, MLPWidth: 128, FeatureDim: 16, MaxClasses: 10, MaxFeatures: 100, MaxRows: 1024}
}

// ShippedConfig is the size of the model kiln embeds (DefaultModel): 759,882 parameters, twice
// the width and one more layer than SmallConfig, about 4.7× its training cost per dataset.
func ShippedConfig() Config {
	return Config{Layers: 4, Width: 128, Heads: 4, MLPWidth: 192, FeatureDim: 16, MaxClasses: 10, MaxFeatures: 100, MaxRows: 1024}
}

// ConfigBounds holds the largest value Validate accepts for each Config field. They are far
// above the shipped model (ShippedConfig) and anything kiln trains, and low enough that no
// config, however it was written, makes New allocate without limit: with MaxParameters
// below, a model's parameters take at most 1 GiB as float32.
//
//	layers          64      (shipped: 4)
//	width         4096      (128)
//	heads           64      (4)
//	mlp_width    16384      (192)
//	feature_dim   1024      (16)
//	max_classes   1000      (10; 0 for a regression model)
//	bins         10000      (MaxBins; regression models only)
//	max_features 10000      (100; bounds the features per ensemble member, whose tokens
//	                         each member's forward pass holds)
//	max_train_rows 100000   (1024; bounds each member's context rows likewise)
func ConfigBounds() Config {
	return Config{Layers: 64, Width: 4096, Heads: 64, MLPWidth: 16384, FeatureDim: 1024,
		MaxClasses: 1000, MaxFeatures: 10_000, MaxRows: 100_000}
}

// MaxParameters bounds the parameter count of a valid config (2^28, 1 GiB as float32; the
// shipped model has 759,882). The field bounds alone would allow 17 billion.
const MaxParameters = 1 << 28

// Validate checks each size against its range (at least 1, 2 for max_classes and
// max_train_rows; at most ConfigBounds), that width divides by heads, and the parameter
// count against MaxParameters. A regression model has bins in [2, MaxBins] and max_classes
// 0, a classifier bins 0. Errors name the field, its value and the bound.
func (c Config) Validate() error {
	hi := ConfigBounds()
	classesLo, classesHi, binsLo, binsHi := 2, hi.MaxClasses, 0, 0
	switch c.Task {
	case "":
	case TaskRegression:
		classesLo, classesHi, binsLo, binsHi = 0, 0, 2, MaxBins
	default:
		return fmt.Errorf("tabpfn: config task %q is neither classification (\"\") nor %q", c.Task, TaskRegression)
	}
	for _, f := range []struct {
		name      string
		v, lo, hi int
	}{
		{"layers", c.Layers, 1, hi.Layers},
		{"width", c.Width, 1, hi.Width},
		{"heads", c.Heads, 1, hi.Heads},
		{"mlp_width", c.MLPWidth, 1, hi.MLPWidth},
		{"feature_dim", c.FeatureDim, 1, hi.FeatureDim},
		{"max_classes", c.MaxClasses, classesLo, classesHi},
		{"max_features", c.MaxFeatures, 1, hi.MaxFeatures},
		{"max_train_rows", c.MaxRows, 2, hi.MaxRows},
		{"bins", c.Bins, binsLo, binsHi},
		{"trained_features", c.TrainedFeatures, 0, hi.MaxFeatures},
	} {
		if err := intInRange("config "+f.name, f.v, f.lo, f.hi); err != nil {
			return err
		}
	}
	if c.Width%c.Heads != 0 {
		return fmt.Errorf("tabpfn: config width %d is not a multiple of heads %d", c.Width, c.Heads)
	}
	if n := c.ParameterCount(); n > MaxParameters {
		return fmt.Errorf("tabpfn: config has %d parameters, above the bound of %d", n, MaxParameters)
	}
	return nil
}

// intInRange checks lo ≤ v ≤ hi and names what and the bound otherwise.
func intInRange(what string, v, lo, hi int) error {
	if v < lo {
		return fmt.Errorf("tabpfn: %s %d is below the minimum of %d", what, v, lo)
	}
	if v > hi {
		return fmt.Errorf("tabpfn: %s %d is above the bound of %d", what, v, hi)
	}
	return nil
}

// JSON encodes the config for checkpoint metadata.
func (c Config) JSON() string {
	b, _ := json.Marshal(c)
	return string(b)
}

type layer struct {
	featAttn, rowAttn *nn.MultiHeadAttention
	mlp               *nn.MLP
	norm1, norm2      *nn.LayerNorm
	norm3             *nn.LayerNorm
}

// Model is the TabPFN transformer.
type Model struct {
	Cfg    Config
	Dev    device.Device
	cell   *nn.Linear    // [value, missing] → Width
	featIn *nn.Linear    // random feature vector → Width
	target *nn.Embedding // classifier: classes 0..MaxClasses-1, MaxClasses = test placeholder
	// targetValue encodes a regression model's target cells, [value, 0] for a training
	// row and [0, 1] for a test row, as the cell encoder does a missing value.
	targetValue *nn.Linear
	layers      []layer
	dec         *nn.MLP
	// Bars is a regression model's output distribution (nil for a classifier): its borders
	// are saved with the parameters, and New leaves it nil for the trainer to set from the
	// prior (PriorBars).
	Bars *Bars
}

// New builds a model with freshly initialised parameters drawn from seed.
func New(dev device.Device, cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Cfg: cfg, Dev: dev}
	err := tensor.Catch(func() error {
		gen := tensor.NewGenerator(seed)
		var err error
		f32 := tensor.Float32
		if m.cell, err = nn.NewLinear(dev, f32, 2, cfg.Width, true, nn.XavierUniform, gen); err != nil {
			return err
		}
		if m.featIn, err = nn.NewLinear(dev, f32, cfg.FeatureDim, cfg.Width, false, nn.XavierUniform, gen); err != nil {
			return err
		}
		if cfg.Regression() {
			if m.targetValue, err = nn.NewLinear(dev, f32, 2, cfg.Width, true, nn.XavierUniform, gen); err != nil {
				return err
			}
		} else if m.target, err = nn.NewEmbedding(dev, f32, cfg.MaxClasses+1, cfg.Width, gen); err != nil {
			return err
		}
		for i := 0; i < cfg.Layers; i++ {
			var l layer
			if l.featAttn, err = nn.NewMultiHeadAttention(dev, f32, cfg.Width, cfg.Heads, gen); err != nil {
				return err
			}
			if l.rowAttn, err = nn.NewMultiHeadAttention(dev, f32, cfg.Width, cfg.Heads, gen); err != nil {
				return err
			}
			if l.mlp, err = nn.NewMLP(dev, f32, []int{cfg.Width, cfg.MLPWidth, cfg.Width}, ops.Gelu, nn.XavierUniform, gen); err != nil {
				return err
			}
			for _, p := range []**nn.LayerNorm{&l.norm1, &l.norm2, &l.norm3} {
				if *p, err = nn.NewLayerNorm(dev, f32, cfg.Width, 1e-5); err != nil {
					return err
				}
			}
			m.layers = append(m.layers, l)
		}
		m.dec, err = nn.NewMLP(dev, f32, []int{cfg.Width, cfg.MLPWidth, cfg.outputs()}, ops.Gelu, nn.XavierUniform, gen)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// NamedParameters lists every parameter with a stable dotted name (the checkpoint keys).
func (m *Model) NamedParameters() []nn.Named {
	var ns []nn.Named
	add := func(prefix string, mod nn.Module) {
		for _, n := range mod.NamedParameters() {
			ns = append(ns, nn.Named{Name: prefix + "." + n.Name, Tensor: n.Tensor})
		}
	}
	add("encoder.cell", m.cell)
	add("encoder.feature", m.featIn)
	if m.Cfg.Regression() {
		add("encoder.target_value", m.targetValue)
	} else {
		add("encoder.target", m.target)
	}
	for i, l := range m.layers {
		p := fmt.Sprintf("layers.%d.", i)
		add(p+"feature_attn", l.featAttn)
		add(p+"row_attn", l.rowAttn)
		add(p+"mlp", l.mlp)
		add(p+"norm1", l.norm1)
		add(p+"norm2", l.norm2)
		add(p+"norm3", l.norm3)
	}
	add("decoder", m.dec)
	return ns
}

// Parameters lists the parameters in NamedParameters order.
func (m *Model) Parameters() []*tensor.Tensor {
	ns := m.NamedParameters()
	ps := make([]*tensor.Tensor, len(ns))
	for i, n := range ns {
		ps[i] = n.Tensor
	}
	return ps
}

// outputs is the decoder's output size: MaxClasses logits, or Bins for a regression model.
func (c Config) outputs() int {
	if c.Regression() {
		return c.Bins
	}
	return c.MaxClasses
}

// Input is one batch of datasets of a common shape, on the host.
type Input struct {
	Batch, Rows, Features, NTrain int
	// X holds Batch×Rows×Features standardised values; NaN marks a missing value.
	X []float32
	// Y holds the Batch×NTrain training labels of a classifier's input.
	Y []int32
	// Classes is each dataset's class count (logits beyond it are masked); classifier only.
	Classes []int
	// Target holds the Batch×NTrain standardised training targets of a regression model's
	// input (finite).
	Target []float32
	// FeatureSeed draws the random per-feature vectors.
	FeatureSeed uint64
}

func (in Input) check(cfg Config) error {
	switch {
	case in.Batch < 1 || in.Rows < 2 || in.Features < 1:
		return fmt.Errorf("tabpfn: empty input (batch %d, rows %d, features %d)", in.Batch, in.Rows, in.Features)
	case in.NTrain < 1 || in.NTrain >= in.Rows:
		return fmt.Errorf("tabpfn: %d training rows of %d: need at least one training and one test row", in.NTrain, in.Rows)
	case len(in.X) != in.Batch*in.Rows*in.Features:
		return fmt.Errorf("tabpfn: %d values for %d×%d×%d inputs", len(in.X), in.Batch, in.Rows, in.Features)
	}
	if cfg.Regression() {
		if len(in.Target) != in.Batch*in.NTrain {
			return fmt.Errorf("tabpfn: %d targets for %d×%d training rows", len(in.Target), in.Batch, in.NTrain)
		}
		for i, v := range in.Target {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("tabpfn: training target %d is %v", i, v)
			}
		}
		return nil
	}
	switch {
	case len(in.Y) != in.Batch*in.NTrain:
		return fmt.Errorf("tabpfn: %d labels for %d×%d training rows", len(in.Y), in.Batch, in.NTrain)
	case len(in.Classes) != in.Batch:
		return fmt.Errorf("tabpfn: %d class counts for a batch of %d", len(in.Classes), in.Batch)
	}
	for _, k := range in.Classes {
		if k < 2 || k > cfg.MaxClasses {
			return fmt.Errorf("tabpfn: %d classes; the model handles 2 to %d", k, cfg.MaxClasses)
		}
	}
	for i, y := range in.Y {
		if y < 0 || int(y) >= in.Classes[i/in.NTrain] {
			return fmt.Errorf("tabpfn: label %d out of range for %d classes", y, in.Classes[i/in.NTrain])
		}
	}
	return nil
}

// targetTokens returns the target tokens [n, E] of rows lo..hi (n = hi−lo) of dataset b of
// in: a classifier embeds the class of a training row and a placeholder for a test row; a
// regression model encodes [value, 0] and [0, 1].
func (m *Model) targetTokens(ec *tensor.Context, in Input, b, lo, hi int) *tensor.Tensor {
	N := in.NTrain
	if m.Cfg.Regression() {
		return m.targetValue.Forward(ec.FromFloat32(m.Dev, targetValues(in.Target[b*N:(b+1)*N], lo, hi), hi-lo, 2))
	}
	return m.target.Forward(ec.FromInt32(m.Dev, targetIDs(in.Y[b*N:(b+1)*N], lo, hi, m.Cfg.MaxClasses), hi-lo))
}

// Forward returns the decoder's outputs for the test rows, [Batch, Rows−NTrain, outputs]: a
// classifier's MaxClasses logits, with those of absent classes set to a large negative
// value, or a regression model's Bins bin logits. It computes in the execution context ec
// (its inputs and every temporary belong to ec), and records gradients when ec's grad mode
// is on; under ec's autocast dtype (tensor.Context.SetAutocast, mixed-precision training) the
// products of its linear layers and attention take 16-bit operands and everything else stays
// float32, the logits included. It panics on malformed input (callers validate with check
// through Probabilities or the trainer). Goroutines may call it at once on one Model, each
// with its own context: it only reads the parameters.
func (m *Model) Forward(ec *tensor.Context, in Input) *tensor.Tensor {
	return m.decode(ec, in, m.body(ec, in), in.NTrain, in.Rows)
}

// body returns every token after the last layer, [Batch, Rows, Features+1, Width]: the
// feature cells' tokens, then each row's target token.
func (m *Model) body(ec *tensor.Context, in Input) *tensor.Tensor {
	cfg := m.Cfg
	B, R, F, N := in.Batch, in.Rows, in.Features, in.NTrain
	E := cfg.Width
	dev := m.Dev

	x := m.cell.Forward(ec.FromFloat32(dev, encodeCells(in.X), B, R, F, 2)) // [B,R,F,E]

	// Random per-feature vectors, the same for every row of a column.
	fv := ec.Normal(dev, tensor.Float32, in.FeatureSeed, 0, 0, 1, F, cfg.FeatureDim)
	x = ops.Add(x, m.featIn.Forward(fv)) // broadcast [F,E]

	// Target tokens: the training rows' targets, a placeholder for test rows.
	var tgt *tensor.Tensor
	if cfg.Regression() {
		vals := make([]float32, 0, 2*B*R)
		for b := 0; b < B; b++ {
			vals = append(vals, targetValues(in.Target[b*N:(b+1)*N], 0, R)...)
		}
		tgt = m.targetValue.Forward(ec.FromFloat32(dev, vals, B*R, 2)) // [B*R, E]
	} else {
		ids := make([]int32, 0, B*R)
		for b := 0; b < B; b++ {
			ids = append(ids, targetIDs(in.Y[b*N:(b+1)*N], 0, R, cfg.MaxClasses)...)
		}
		tgt = m.target.Forward(ec.FromInt32(dev, ids, B*R)) // [B*R, E]
	}
	x = ops.Concat(2, x, ops.Reshape(tgt, B, R, 1, E)) // [B,R,F+1,E]
	T := F + 1

	for _, l := range m.layers {
		// 1. Across the tokens of each row.
		h := ops.Reshape(x, B*R, T, E)
		h = l.norm1.Forward(ops.Add(h, l.featAttn.Forward(h, h, T)))
		// 2. Across rows within each column; rows attend to the training rows only.
		c := ops.Reshape(ops.Permute(ops.Reshape(h, B, R, T, E), 0, 2, 1, 3), B*T, R, E)
		c = l.norm2.Forward(ops.Add(c, l.rowAttn.Forward(c, c, N)))
		// 3. MLP per token.
		c = l.norm3.Forward(ops.Add(c, l.mlp.Forward(c)))
		x = ops.Permute(ops.Reshape(c, B, T, R, E), 0, 2, 1, 3) // [B,R,T,E]
	}
	return x
}

// decode returns the decoder's outputs for the target tokens of test rows lo..hi of the
// final tokens x (body's), [Batch, hi−lo, outputs], a classifier's with the logits of the
// classes a dataset lacks masked.
func (m *Model) decode(ec *tensor.Context, in Input, x *tensor.Tensor, lo, hi int) *tensor.Tensor {
	cfg := m.Cfg
	B, F, E := in.Batch, in.Features, cfg.Width
	t := ops.Slice(ops.Slice(x, 2, F, F+1), 1, lo, hi) // [B, hi−lo, 1, E]
	logits := m.dec.Forward(ops.Reshape(t, B, hi-lo, E))
	if cfg.Regression() {
		return logits
	}

	// Mask classes the dataset does not have.
	mask := make([]float32, 0, B*cfg.MaxClasses)
	for _, k := range in.Classes {
		mask = append(mask, classMask(k, cfg.MaxClasses)...)
	}
	return ops.Add(logits, ec.FromFloat32(m.Dev, mask, B, 1, cfg.MaxClasses))
}

// Loss is the mean cross-entropy of the test rows' labels yTest (Batch×(Rows−NTrain)),
// computed in ec as Forward is. Classifier only.
func (m *Model) Loss(ec *tensor.Context, in Input, yTest []int32) *tensor.Tensor {
	logits := m.Forward(ec, in)
	n := in.Batch * (in.Rows - in.NTrain)
	return ops.CrossEntropy(ops.Reshape(logits, n, m.Cfg.MaxClasses), ec.FromInt32(m.Dev, yTest, n), nil)
}

// RegressionLoss is the mean negative log-likelihood of the test rows' standardised targets
// yTest (Batch×(Rows−NTrain)) under the predicted bar distributions (Bars.NLL), computed in
// ec as Forward is. Regression models only.
func (m *Model) RegressionLoss(ec *tensor.Context, in Input, yTest []float32) *tensor.Tensor {
	logits := m.Forward(ec, in)
	n := in.Batch * (in.Rows - in.NTrain)
	y := make([]float64, n)
	for i, v := range yTest {
		y[i] = float64(v)
	}
	return m.Bars.NLL(ops.Reshape(logits, n, m.Cfg.Bins), y)
}

// Probabilities runs the model without recording gradients, in an execution context of its
// own, and returns, per dataset, the (Rows−NTrain)×Classes[b] class probabilities (a
// regression model: the (Rows−NTrain)×Bins bin probabilities) at the given softmax
// temperature. It is safe for concurrent use.
func (m *Model) Probabilities(in Input, temperature float64) ([][]float64, error) {
	if err := in.check(m.Cfg); err != nil {
		return nil, err
	}
	if !(temperature > 0) || math.IsInf(temperature, 0) {
		return nil, fmt.Errorf("tabpfn: temperature must be positive and finite, got %v", temperature)
	}
	var out [][]float64
	err := tensor.Catch(func() error {
		ec := tensor.NewContext()
		defer ec.Close()
		ec.SetGradEnabled(false)
		logits := m.Forward(ec, in)
		if temperature != 1 {
			logits = ops.MulScalar(logits, 1/temperature)
		}
		p := ops.Softmax(logits, -1).Float64s()
		T, K := in.Rows-in.NTrain, m.Cfg.outputs()
		out = make([][]float64, in.Batch)
		for b := range out {
			if m.Cfg.Regression() {
				out[b] = p[b*T*K : (b+1)*T*K]
			} else {
				out[b] = classProbs(p[b*T*K:(b+1)*T*K], K, in.Classes[b], nil)
			}
		}
		return nil
	})
	return out, err
}

// Release frees the model's parameters.
func (m *Model) Release() {
	for _, p := range m.Parameters() {
		ops.ZeroGrad(p)
		p.Release()
	}
}

// encodeCells turns standardised cell values into the cell encoder's input pairs
// [value, missing]: a NaN becomes (0, 1), anything else (clamp(v, ±100), 0).
func encodeCells(x []float32) []float32 {
	cells := make([]float32, 2*len(x))
	for i, v := range x {
		if v != v { // NaN
			cells[2*i+1] = 1
		} else {
			cells[2*i] = clamp(v, -100, 100)
		}
	}
	return cells
}

// targetIDs returns the target-token ids of rows [lo, hi) of a dataset whose training labels
// are y: the label for a training row, the placeholder id (MaxClasses) for a test row.
func targetIDs(y []int32, lo, hi, placeholder int) []int32 {
	ids := make([]int32, hi-lo)
	for r := range ids {
		if lo+r < len(y) {
			ids[r] = y[lo+r]
		} else {
			ids[r] = int32(placeholder)
		}
	}
	return ids
}

// targetValues returns the regression target encoder's input pairs of rows [lo, hi) of a
// dataset whose training targets are y: [clamp(y, ±100), 0] for a training row, [0, 1] for
// a test row.
func targetValues(y []float32, lo, hi int) []float32 {
	out := make([]float32, 2*(hi-lo))
	for r := range hi - lo {
		if lo+r < len(y) {
			out[2*r] = clamp(y[lo+r], -100, 100)
		} else {
			out[2*r+1] = 1
		}
	}
	return out
}

// classMask is the additive logit mask of a dataset with k of the model's K classes.
func classMask(k, K int) []float32 {
	mask := make([]float32, K)
	for c := k; c < K; c++ {
		mask[c] = -1e4
	}
	return mask
}

// classProbs appends to dst, for each row of softmax outputs p (rows × K), the
// probabilities of the dataset's k classes renormalised to sum to one.
func classProbs(p []float64, K, k int, dst []float64) []float64 {
	for r := 0; r < len(p)/K; r++ {
		row := p[r*K : r*K+k]
		sum := 0.0
		for _, v := range row {
			sum += v
		}
		for _, v := range row {
			dst = append(dst, v/sum)
		}
	}
	return dst
}

func clamp(v, lo, hi float32) float32 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
