// Package compare runs kiln's optimizers side by side: it trains the same small MLP
// (features → hidden → ReLU → classes, float32, identical initial weights) on a CSV or
// Parquet classification dataset with each optimizer, for the same number of minibatch
// steps over the same minibatches, and reports the final training loss, the test accuracy,
// the wall time and the loss curve of each. It is the engine of `kiln optim compare`.
//
// Features are standardised with training-set statistics (a missing value becomes the
// training mean); a stratified split holds out Config.TestFraction of the rows for the
// accuracy. Each optimizer runs at its default learning rate times every factor of
// Config.LRFactors, and the run with the lowest final training loss is kept. Sophia
// refreshes its Hessian with the Gauss-Newton-Bartlett estimate when due (SophiaG, every 10
// steps by default); AdaHessian estimates |Hv| every step.
//
// Everything is deterministic given Config.Seed: the split, the initial weights, the
// minibatches and the Hessian probes.
package compare

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/nn"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/tensor"
)

// Optimizer is one contender: its name, its default learning rate and how to build it.
type Optimizer struct {
	Name string
	LR   float64
	New  func(groups []optim.Group, lr float64) (optim.Optimizer, error)
}

// Optimizers returns the five compared optimizers in report order: SGD (lr 0.05, momentum
// 0.9), AdamW, LAMB, Sophia and AdaHessian at package optim's defaults.
func Optimizers() []Optimizer {
	return []Optimizer{
		{"sgd", 0.05, func(gs []optim.Group, lr float64) (optim.Optimizer, error) {
			return optim.NewSGD(gs, optim.SGDConfig{LR: lr, Momentum: 0.9})
		}},
		{"adamw", optim.DefaultAdamW().LR, func(gs []optim.Group, lr float64) (optim.Optimizer, error) {
			c := optim.DefaultAdamW()
			c.LR = lr
			return optim.NewAdamW(gs, c)
		}},
		{"lamb", optim.DefaultLAMB().LR, func(gs []optim.Group, lr float64) (optim.Optimizer, error) {
			c := optim.DefaultLAMB()
			c.LR = lr
			return optim.NewLAMB(gs, c)
		}},
		{"sophia", optim.DefaultSophia().LR, func(gs []optim.Group, lr float64) (optim.Optimizer, error) {
			c := optim.DefaultSophia()
			c.LR = lr
			return optim.NewSophia(gs, c)
		}},
		{"adahessian", optim.DefaultAdaHessian().LR, func(gs []optim.Group, lr float64) (optim.Optimizer, error) {
			c := optim.DefaultAdaHessian()
			c.LR = lr
			return optim.NewAdaHessian(gs, c)
		}},
	}
}

// Select returns the optimizers named (case-insensitively, surrounding spaces ignored), in
// the order given; no names means all of Optimizers.
func Select(names []string) ([]Optimizer, error) {
	all := Optimizers()
	if len(names) == 0 {
		return all, nil
	}
	known := make([]string, len(all))
	for i, o := range all {
		known[i] = o.Name
	}
	var out []Optimizer
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		i := slices.Index(known, n)
		if i < 0 {
			return nil, fmt.Errorf("compare: unknown optimizer %q (known: %s)", n, strings.Join(known, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// Config sets up a comparison. Start from DefaultConfig.
type Config struct {
	// Optimizers names the contenders (see Select); empty means all.
	Optimizers []string
	// LRFactors are the multiples of each optimizer's default learning rate to try; the
	// run with the lowest final training loss is reported. Empty means {1}.
	LRFactors []float64
	// Steps is the number of minibatch steps per run, Batch the rows of a minibatch (at
	// most the training rows) and Hidden the hidden units of the MLP.
	Steps, Batch, Hidden int
	// Seed keys the split, the initial weights, the minibatches and the Hessian probes.
	Seed uint64
	// TestFraction of the rows, in (0, 1), is held out (stratified) for test accuracy.
	TestFraction float64
	// CheckMemory, when set, is asked before the large allocations (every minibatch is
	// built up front; then the MLP with its state and activations) with a description and
	// an estimate in bytes, and refuses them by returning an error.
	CheckMemory func(what string, bytes float64) error
}

// DefaultConfig is the comparison of `kiln optim compare` without flags: every optimizer,
// a sweep over 0.1×, 1× and 10× the default learning rates, 300 steps of 128 rows, 64
// hidden units, seed 1 and a 20% test split.
func DefaultConfig() Config {
	return Config{LRFactors: []float64{0.1, 1, 10}, Steps: 300, Batch: 128, Hidden: 64, Seed: 1, TestFraction: 0.2}
}

func (c *Config) validate() error {
	if c.Steps < 1 || c.Batch < 1 || c.Hidden < 1 {
		return fmt.Errorf("compare: steps (%d), batch (%d) and hidden (%d) must be ≥ 1", c.Steps, c.Batch, c.Hidden)
	}
	if !(c.TestFraction > 0 && c.TestFraction < 1) {
		return fmt.Errorf("compare: test fraction %v is not in (0, 1)", c.TestFraction)
	}
	for _, f := range c.LRFactors {
		if !(f > 0) || math.IsInf(f, 0) {
			return fmt.Errorf("compare: learning-rate factor %v must be finite and > 0", f)
		}
	}
	return nil
}

// Result is one optimizer's run: the best of its learning-rate sweep.
type Result struct {
	Optimizer    string       `json:"optimizer"`
	LR           float64      `json:"lr"`
	FinalLoss    float64      `json:"final_train_loss"` // cross-entropy over the whole training set
	TestAccuracy float64      `json:"test_accuracy"`
	WallSeconds  float64      `json:"wall_seconds"` // the training steps, evaluation excluded
	MsPerStep    float64      `json:"ms_per_step"`
	Curve        []float64    `json:"loss_curve"` // minibatch loss of every step
	Sweep        []SweepPoint `json:"sweep,omitempty"`
	// Error says why the run failed (a refused non-finite step, divergence); the scores are
	// then 0 and the curve holds its finite prefix, so that the report stays valid JSON.
	Error string `json:"error,omitempty"`
}

// SweepPoint is one learning rate of a sweep that finished.
type SweepPoint struct {
	LR        float64 `json:"lr"`
	FinalLoss float64 `json:"final_train_loss"`
}

// Report is a whole comparison.
type Report struct {
	Dataset      string    `json:"dataset"`
	Device       string    `json:"device"`
	Rows         int       `json:"train_rows"`
	TestRows     int       `json:"test_rows"`
	Features     int       `json:"features"`
	Classes      int       `json:"classes"`
	Hidden       int       `json:"hidden"`
	Steps        int       `json:"steps"`
	Batch        int       `json:"batch"`
	Seed         uint64    `json:"seed"`
	SweepFactors []float64 `json:"sweep_factors"`
	Results      []Result  `json:"results"`
}

// Run compares the optimizers of cfg on the dataset at path (CSV with a header row, or
// Parquet; the last column is the class) on dev. A run that fails is reported in its
// Result; Run itself fails for a bad configuration, an unreadable dataset or a refused
// memory check.
func Run(dev device.Device, path string, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts, err := Select(cfg.Optimizers)
	if err != nil {
		return nil, err
	}
	factors := cfg.LRFactors
	if len(factors) == 0 {
		factors = []float64{1}
	}
	var rep *Report
	err = tensor.Catch(func() error {
		d, err := load(dev, path, cfg)
		if err != nil {
			return err
		}
		defer d.release()
		b := d.batchesX[0].Dim(0)
		if err := cfg.check(fmt.Sprintf("an MLP %d-%d-%d with its optimizer state and activations for %d-row minibatches and %d training rows",
			d.features, cfg.Hidden, d.classes, b, d.n), ModelBytes(b, d.features, cfg.Hidden, d.classes, d.n)); err != nil {
			return err
		}
		rep = &Report{Dataset: path, Device: dev.Name(), Rows: d.n, TestRows: len(d.yTest), Features: d.features,
			Classes: d.classes, Hidden: cfg.Hidden, Steps: cfg.Steps, Batch: b, Seed: cfg.Seed, SweepFactors: factors}
		for _, o := range opts {
			var best *Result
			var sweep []SweepPoint
			for _, f := range factors {
				res := d.train(o, o.LR*f, cfg.Hidden, cfg.Seed)
				if res.Error == "" {
					sweep = append(sweep, SweepPoint{LR: res.LR, FinalLoss: res.FinalLoss})
				}
				if best == nil || best.Error != "" || (res.Error == "" && res.FinalLoss < best.FinalLoss) {
					best = &res
				}
			}
			if len(factors) > 1 {
				best.Sweep = sweep
			}
			rep.Results = append(rep.Results, *best)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

func (c *Config) check(what string, bytes float64) error {
	if c.CheckMemory == nil {
		return nil
	}
	return c.CheckMemory(what, bytes)
}

// MinibatchBytes estimates the memory of the minibatches, all built before training:
// steps × rows × (features + label), float32 and int32.
func MinibatchBytes(steps, batch, features int) float64 {
	return 4 * float64(steps) * float64(batch) * float64(features+1)
}

// ModelBytes estimates the memory of one run's MLP: its parameters with gradients and
// optimizer state (about 8 copies), and activations for a minibatch and for the whole
// training set (the final loss).
func ModelBytes(batch, features, hidden, classes, trainRows int) float64 {
	b, d, h := float64(batch), float64(features), float64(hidden)
	k, n := float64(classes), float64(trainRows)
	return 4*8*(d*h+h*k) + 4*3*(b+n)*(h+k)
}

// dataset is the standardised dataset, split, with the minibatches fixed up front. Its
// tensors belong to no context; release frees them.
type dataset struct {
	dev                  device.Device
	xTrain, xTest        *tensor.Tensor
	yTrain               *tensor.Tensor
	yTest                []int
	batchesX, batchesY   []*tensor.Tensor
	features, classes, n int
}

func (d *dataset) release() {
	for _, t := range append(append([]*tensor.Tensor{d.xTrain, d.xTest, d.yTrain}, d.batchesX...), d.batchesY...) {
		if t != nil {
			t.Release()
		}
	}
}

func load(dev device.Device, path string, cfg Config) (*dataset, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("dataset %s: %w", path, err)
	}
	tab, err := data.Load(path, data.Options{})
	if err != nil {
		return nil, err
	}
	n, d, k := tab.Rows(), tab.NumFeatures(), len(tab.Classes)
	if d == 0 {
		return nil, fmt.Errorf("dataset %s has no feature columns", path)
	}
	train, test, err := data.StratifiedSplit(tab.Y, k, cfg.TestFraction, cfg.Seed)
	if err != nil {
		return nil, err
	}
	if len(train) == 0 || len(test) == 0 {
		return nil, fmt.Errorf("dataset %s has too few rows (%d) for a train/test split", path, n)
	}
	b := min(cfg.Batch, len(train))
	if err := cfg.check(fmt.Sprintf("%d minibatches of %d rows and %d features", cfg.Steps, b, d),
		MinibatchBytes(cfg.Steps, b, d)); err != nil {
		return nil, err
	}
	mean, sd := make([]float64, d), make([]float64, d)
	for j := 0; j < d; j++ {
		var s, s2, c float64
		for _, i := range train {
			if v := tab.X.At(i, j); !math.IsNaN(v) {
				s, s2, c = s+v, s2+v*v, c+1
			}
		}
		if c > 0 {
			mean[j] = s / c
			sd[j] = math.Sqrt(math.Max(s2/c-mean[j]*mean[j], 0))
		}
		if sd[j] == 0 {
			sd[j] = 1
		}
	}
	rows := func(idx []int) []float64 {
		out := make([]float64, len(idx)*d)
		for r, i := range idx {
			for j := 0; j < d; j++ {
				if v := tab.X.At(i, j); !math.IsNaN(v) {
					out[r*d+j] = (v - mean[j]) / sd[j]
				}
			}
		}
		return out
	}
	labels := func(idx []int) []int32 {
		out := make([]int32, len(idx))
		for r, i := range idx {
			out[r] = int32(tab.Y[i])
		}
		return out
	}
	ds := &dataset{dev: dev, features: d, classes: k, n: len(train)}
	ds.xTrain = tensor.FromFloat64As(dev, tensor.Float32, rows(train), len(train), d).Detach()
	ds.yTrain = tensor.FromInt32(dev, labels(train)).Detach()
	ds.xTest = tensor.FromFloat64As(dev, tensor.Float32, rows(test), len(test), d).Detach()
	for _, i := range test {
		ds.yTest = append(ds.yTest, tab.Y[i])
	}
	// Minibatches: consecutive slices of a fresh permutation per epoch, the same for every
	// optimizer.
	r := rand.New(rand.NewPCG(cfg.Seed, 0x6b696c6e))
	var perm []int
	for s := 0; s < cfg.Steps; s++ {
		if len(perm) < b {
			perm = r.Perm(len(train))
		}
		idx := make([]int, b)
		for i := range idx {
			idx[i] = train[perm[i]]
		}
		perm = perm[b:]
		ds.batchesX = append(ds.batchesX, tensor.FromFloat64As(dev, tensor.Float32, rows(idx), b, d).Detach())
		ds.batchesY = append(ds.batchesY, tensor.FromInt32(dev, labels(idx)).Detach())
	}
	return ds, nil
}

// train trains a fresh MLP (initial weights from seed) with one optimizer. Failures of the
// optimizer (a refused non-finite step, divergence) are reported in the result, not
// returned.
func (d *dataset) train(o Optimizer, lr float64, hidden int, seed uint64) Result {
	res := Result{Optimizer: o.Name, LR: lr}
	// fail reports a failed run; JSON cannot hold NaN or Inf, so the curve keeps its finite
	// prefix and the scores stay 0 (the error says what happened).
	fail := func(err error) Result {
		res.Error = err.Error()
		res.FinalLoss, res.TestAccuracy = 0, 0
		for i, v := range res.Curve {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				res.Curve = res.Curve[:i]
				break
			}
		}
		return res
	}
	model, err := nn.NewMLP(d.dev, tensor.Float32, []int{d.features, hidden, d.classes}, ops.Relu, nn.KaimingUniform, tensor.NewGenerator(seed))
	if err != nil {
		return fail(err)
	}
	defer nn.Release(model)
	var ps []optim.Param
	for _, p := range model.NamedParameters() {
		ps = append(ps, optim.Param{Name: p.Name, T: p.Tensor})
	}
	opt, err := o.New(optim.SplitDecay(ps), lr)
	if err != nil {
		return fail(err)
	}
	defer opt.Release()
	probe := tensor.NewGenerator(seed + 1)
	params := model.Parameters()
	// The data tensors are shared by every optimizer's run; each step works on views of
	// them in the run's own execution context.
	ec := tensor.NewContext()
	defer ec.Close()
	start := time.Now()
	err = tensor.Catch(func() error {
		for s := range d.batchesX {
			sc := ec.NewScope()
			err := d.step(ec, model, opt, params, probe, s, &res)
			sc.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	ops.ZeroGrad(params...)
	if err != nil {
		return fail(err)
	}
	if err := d.dev.Sync(); err != nil {
		return fail(err)
	}
	wall := time.Since(start)
	res.WallSeconds = wall.Seconds()
	res.MsPerStep = wall.Seconds() * 1e3 / float64(len(d.batchesX))
	err = tensor.Catch(func() error {
		ec.NoGrad(func() {
			sc := ec.NewScope()
			defer sc.Close()
			res.FinalLoss = ops.CrossEntropy(model.Forward(ec.View(d.xTrain)), ec.View(d.yTrain), nil).Item()
			res.TestAccuracy = accuracy(model.Forward(ec.View(d.xTest)).Float64s(), d.yTest, d.classes)
		})
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if math.IsNaN(res.FinalLoss) || math.IsInf(res.FinalLoss, 0) {
		return fail(errors.New("training diverged (non-finite loss)"))
	}
	return res
}

// step runs minibatch s: the loss and its gradients (AdaHessian: with the Hessian estimate),
// the optimizer's step, and Sophia's Hessian refresh when due. The caller's scope holds
// everything it makes.
func (d *dataset) step(ec *tensor.Context, model *nn.MLP, opt optim.Optimizer, params []*tensor.Tensor, probe *tensor.Generator, s int, res *Result) error {
	xb, yb := ec.View(d.batchesX[s]), ec.View(d.batchesY[s])
	loss := func() *tensor.Tensor { return ops.CrossEntropy(model.Forward(xb), yb, nil) }
	ops.ZeroGrad(params...)
	var l float64
	if ah, ok := opt.(*optim.AdaHessian); ok {
		var err error
		if l, err = ah.Prepare(ec, loss, probe); err != nil {
			return err
		}
	} else {
		lt := loss()
		ops.Backward(lt)
		l = lt.Item()
	}
	res.Curve = append(res.Curve, l)
	if err := opt.Step(); err != nil {
		return err
	}
	if so, ok := opt.(*optim.Sophia); ok && so.HessianDue() {
		ops.ZeroGrad(params...)
		return so.UpdateHessianGNB(ec, func() *tensor.Tensor { return model.Forward(xb) }, probe)
	}
	return nil
}

// accuracy is the fraction of rows whose largest logit is at the true class.
func accuracy(logits []float64, y []int, classes int) float64 {
	correct := 0
	for i, c := range y {
		row := logits[i*classes : (i+1)*classes]
		arg := 0
		for j, v := range row {
			if v > row[arg] {
				arg = j
			}
		}
		if arg == c {
			correct++
		}
	}
	return float64(correct) / float64(len(y))
}
