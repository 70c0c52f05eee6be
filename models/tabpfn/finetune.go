package tabpfn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
	"github.com/kiln-ml/kiln/metrics"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/tensor"
)

// FineTuneConfig controls FineTune.
type FineTuneConfig struct {
	// Steps is the most optimizer steps (each one in-context task).
	Steps int
	// LR is AdamW's learning rate (constant; no weight decay).
	LR float64
	// EvalEvery is the steps between scorings of the held-out rows; Patience the scorings
	// without improvement after which training stops.
	EvalEvery, Patience int
	// HoldoutFraction is the share of the rows held out (stratified) for early stopping.
	HoldoutFraction float64
	// ContextRows and QueryRows bound the rows of one task: a random context of at most
	// ContextRows of the other rows and at most QueryRows query rows, whose labels the loss
	// scores.
	ContextRows, QueryRows int
	// Ensemble is the members of the classifier that scores the held-out rows.
	Ensemble int
	// Seed fixes the split, the tasks and the scoring classifier.
	Seed uint64
	// Columns describes the feature columns (data.Table.Columns); nil: all numeric.
	Columns []data.Column
	// Log, when set, receives one line per scoring.
	Log io.Writer
}

// DefaultFineTuneConfig is a short, careful fine-tuning: up to 60 steps at 1e-5, the held-out
// fifth scored every 10 steps, stopping after 2 scorings without a better log loss.
func DefaultFineTuneConfig() FineTuneConfig {
	return FineTuneConfig{Steps: 60, LR: 1e-5, EvalEvery: 10, Patience: 2, HoldoutFraction: 0.2,
		ContextRows: 512, QueryRows: 128, Ensemble: 2, Seed: 0}
}

// FineTuneResult reports what FineTune did.
type FineTuneResult struct {
	Steps     int     // optimizer steps taken
	BestStep  int     // the step of the returned parameters (0: the model as given)
	StartLoss float64 // held-out log loss of the model as given
	BestLoss  float64 // held-out log loss of the returned model (never above StartLoss)
	StartAUC  float64 // held-out ROC AUC of the model as given
	BestAUC   float64 // and of the returned model
	Holdout   int     // held-out rows
}

// FineTune continues training a copy of m on the user's own table: each step is an
// in-context task drawn from the training part of X (a random context of its rows and
// query rows from the rest, seen through a random preprocessing variant, feature order and
// label rotation, as the classifier's ensemble members see a table), and the loss is the
// cross-entropy of the query rows. A stratified HoldoutFraction of the rows is held out:
// the copy is scored on it (log loss, the classifier fitted on the training part) before
// training and every EvalEvery steps, training stops after Patience scorings without
// improvement, and the parameters of the best scoring are returned, so the result is never
// worse on the held-out rows than m (it is m's copy when no step helped). m is not changed.
// ctx stops training early (the best so far is returned).
func FineTune(ctx context.Context, m *Model, X data.Matrix, y []int, nClasses int, cfg FineTuneConfig) (*Model, FineTuneResult, error) {
	var res FineTuneResult
	switch {
	case cfg.Steps < 0 || cfg.EvalEvery < 1 || cfg.Patience < 1 || cfg.ContextRows < 2 || cfg.QueryRows < 1 || cfg.Ensemble < 1:
		return nil, res, fmt.Errorf("tabpfn: fine-tune config: need Steps ≥ 0, EvalEvery, Patience, QueryRows, Ensemble ≥ 1 and ContextRows ≥ 2: %+v", cfg)
	case !(cfg.LR > 0 && cfg.LR <= MaxLR):
		return nil, res, fmt.Errorf("tabpfn: fine-tune learning rate %v is not in (0, %v]", cfg.LR, MaxLR)
	case !(cfg.HoldoutFraction > 0 && cfg.HoldoutFraction < 1):
		return nil, res, fmt.Errorf("tabpfn: fine-tune holdout fraction %v is not in (0, 1)", cfg.HoldoutFraction)
	}
	if err := checkMatrix("FineTune", X); err != nil {
		return nil, res, err
	}
	if len(y) != X.Rows {
		return nil, res, fmt.Errorf("tabpfn: FineTune: %d labels for %d rows", len(y), X.Rows)
	}
	fit, hold, err := data.StratifiedSplit(y, nClasses, cfg.HoldoutFraction, cfg.Seed)
	if err != nil {
		return nil, res, fmt.Errorf("tabpfn: FineTune: %w", err)
	}
	if len(fit) < 4 || len(hold) < 2 {
		return nil, res, fmt.Errorf("tabpfn: FineTune: %d rows are too few to hold some out (%d training, %d held out)", X.Rows, len(fit), len(hold))
	}
	fitX, holdX := X.SelectRows(fit), X.SelectRows(hold)
	fitY, holdY := pick(y, fit), pick(y, hold)
	res.Holdout = len(hold)

	ft, err := m.Clone()
	if err != nil {
		return nil, res, err
	}
	ok := false
	defer func() {
		if !ok {
			ft.Release()
		}
	}()
	score := func() (float64, float64, error) {
		c, err := NewClassifier(WithModel(ft), WithEnsemble(cfg.Ensemble), WithSeed(cfg.Seed), WithPairwise(0), WithLocalContexts(0))
		if err != nil {
			return 0, 0, err
		}
		c.SetColumns(cfg.Columns)
		if err := c.Fit(fitX, fitY, nClasses); err != nil {
			return 0, 0, err
		}
		p, err := c.PredictProba(holdX)
		if err != nil {
			return 0, 0, err
		}
		ll, err := metrics.LogLoss(holdY, p)
		if err != nil {
			return 0, 0, err
		}
		auc, err := metrics.ROCAUC(holdY, p)
		if err != nil {
			auc = math.NaN() // a held-out part of one class has no AUC; log loss decides
		}
		return ll, auc, nil
	}
	if res.StartLoss, res.StartAUC, err = score(); err != nil {
		return nil, res, err
	}
	res.BestLoss, res.BestAUC = res.StartLoss, res.StartAUC
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	logf("step 0: held-out log loss %.4f, ROC AUC %.4f (%d training rows, %d held out)", res.StartLoss, res.StartAUC, len(fit), len(hold))
	if cfg.Steps == 0 {
		ok = true
		return ft, res, nil
	}

	var params []optim.Param
	for _, n := range ft.NamedParameters() {
		params = append(params, optim.Param{Name: n.Name, T: n.Tensor})
	}
	ac := optim.DefaultAdamW()
	ac.LR, ac.WeightDecay, ac.MaxGradNorm = cfg.LR, 0, 1
	opt, err := optim.NewAdamW([]optim.Group{{Params: params}}, ac)
	if err != nil {
		return nil, res, err
	}
	defer opt.Release()
	best := ft.snapshot()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x66696e65))
	variants := DefaultVariants()
	ec := tensor.NewContext()
	defer ec.Close()
	bad := 0
	for step := 1; step <= cfg.Steps && ctx.Err() == nil; step++ {
		in, yq, err := ft.task(rng, fitX, fitY, nClasses, cfg, variants[rng.IntN(len(variants))])
		if err != nil {
			return nil, res, err
		}
		err = tensor.Catch(func() error {
			s := ec.NewScope()
			defer s.Close()
			ops.Backward(ft.Loss(ec, in, yq))
			err := opt.Step()
			opt.ZeroGrad()
			return err
		})
		if err != nil {
			return nil, res, fmt.Errorf("tabpfn: fine-tune step %d: %w", step, err)
		}
		res.Steps = step
		if step%cfg.EvalEvery != 0 && step != cfg.Steps {
			continue
		}
		ll, auc, err := score()
		if err != nil {
			return nil, res, err
		}
		logf("step %d: held-out log loss %.4f, ROC AUC %.4f", step, ll, auc)
		if ll < res.BestLoss {
			res.BestLoss, res.BestAUC, res.BestStep, bad = ll, auc, step, 0
			best = ft.snapshot()
		} else if bad++; bad >= cfg.Patience {
			break
		}
	}
	if err := ft.restore(best); err != nil {
		return nil, res, err
	}
	ok = true
	return ft, res, nil
}

// task draws one fine-tuning task from the rows X, y: a member view (preprocessing variant,
// feature order, label rotation) fitted on a random context, and query rows of the context's
// classes, with their labels as the model sees them.
func (m *Model) task(rng *rand.Rand, X data.Matrix, y []int, nClasses int, cfg FineTuneConfig, v preprocess.Variant) (Input, []int32, error) {
	perm := rng.Perm(X.Rows)
	nq := min(cfg.QueryRows, max(1, X.Rows/4))
	nc := min(cfg.ContextRows, X.Rows-nq)
	ctxRows, qRows := perm[:nc], perm[nc:nc+nq]
	// Two members, of which the task takes one: the ensemble presents categorical columns as
	// codes in one and as indicator columns in the other (WithOneHot), and fine-tuning
	// should train the model on both.
	c, err := NewClassifier(WithModel(m), WithEnsemble(2), WithSeed(rng.Uint64()), WithPairwise(0), WithVariants(v), WithLocalContexts(0))
	if err != nil {
		return Input{}, nil, err
	}
	c.SetColumns(cfg.Columns)
	if err := c.Fit(X.SelectRows(ctxRows), pick(y, ctxRows), nClasses); err != nil {
		return Input{}, nil, err
	}
	mb := c.members[rng.IntN(len(c.members))]
	if c.codes {
		return Input{}, nil, fmt.Errorf("tabpfn: fine-tuning needs at most %d classes", m.Cfg.MaxClasses)
	}
	label := map[int]int32{} // the caller's class → the model's label
	for compact, cl := range c.classes {
		label[cl] = int32(mb.code[compact])
	}
	var keep []int
	var yq []int32
	for _, r := range qRows {
		if l, ok := label[y[r]]; ok {
			keep = append(keep, r)
			yq = append(yq, l)
		}
	}
	if len(keep) == 0 {
		return Input{}, nil, errors.New("tabpfn: fine-tune task without query rows of the context's classes")
	}
	in, err := mb.input(X.SelectRows(keep))
	if err != nil {
		return Input{}, nil, err
	}
	// A random relabelling: the first member is never rotated, and the model should not learn
	// one label order from the table.
	relabel := rng.Perm(mb.nLabels)
	y32 := make([]int32, len(in.Y))
	for i, l := range in.Y {
		y32[i] = int32(relabel[l])
	}
	in.Y = y32
	for i, l := range yq {
		yq[i] = int32(relabel[l])
	}
	return in, yq, nil
}

// pick returns y's entries at idx, in idx's order.
func pick[T any](y []T, idx []int) []T {
	out := make([]T, len(idx))
	for i, r := range idx {
		out[i] = y[r]
	}
	return out
}

// Clone returns a copy of the model with its own parameters on the same device.
func (m *Model) Clone() (*Model, error) {
	c, err := New(m.Dev, m.Cfg, 0)
	if err != nil {
		return nil, err
	}
	if err := c.restore(m.snapshot()); err != nil {
		c.Release()
		return nil, err
	}
	return c, nil
}

// snapshot returns host copies of the parameters, in NamedParameters order.
func (m *Model) snapshot() [][]float32 {
	var out [][]float32
	for _, p := range m.Parameters() {
		out = append(out, p.Float32s())
	}
	return out
}

// restore writes a snapshot back into the parameters.
func (m *Model) restore(s [][]float32) error {
	return tensor.Catch(func() error {
		for i, p := range m.Parameters() {
			if err := m.Dev.CopyFromHost(p.Buffer(), s[i]); err != nil {
				return err
			}
		}
		return nil
	})
}
