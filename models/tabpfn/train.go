package tabpfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/models/tabpfn/prior"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/tensor"
)

// TrainConfig controls pre-training on the prior.
type TrainConfig struct {
	Steps           int     `json:"steps"`
	LR              float64 `json:"lr"`
	MinLR           float64 `json:"min_lr"`
	Warmup          int     `json:"warmup"`
	WeightDecay     float64 `json:"weight_decay"`
	ClipNorm        float64 `json:"clip_norm"`
	Seed            uint64  `json:"seed"`
	CheckpointEvery int     `json:"checkpoint_every"`
	Workers         int     `json:"workers"` // prior generator goroutines
	// MicroBatch, when between 1 and the batch size, runs each batch's forward and backward
	// passes on groups of that many datasets and accumulates their gradients before the one
	// optimizer step: the same update (the datasets of a batch share their shape and feature
	// vectors, so the loss splits exactly), with activation memory for MicroBatch datasets
	// instead of the whole batch. 0: the whole batch at once.
	MicroBatch int `json:"micro_batch,omitempty"`
	// FreezeBody trains only the target encoder and the decoder (the heads), keeping the
	// cell and feature encoders and every layer at their starting values: a regression head
	// on a classifier's body that stays shared with it. false: every parameter trains.
	FreezeBody bool `json:"freeze_body,omitempty"`
	// ScheduleStart is the step at which the current learning-rate schedule (warm-up, then
	// cosine decay to Steps) began: 0 for a run in one phase, the step of the switch for a
	// run continued with new settings (see Trainer.NewPhase).
	ScheduleStart int `json:"schedule_start,omitempty"`
	// WarmupAsked is the warm-up the current phase was asked for, before Warmup was capped
	// to a share of its steps; a resume that asks for it again continues the phase
	// (PhaseChanges). 0: not recorded (Warmup is then compared).
	WarmupAsked int `json:"warmup_asked,omitempty"`
	Prior       prior.Config
	// Precision is the arithmetic of the forward and backward passes: PrecisionFP32 (or
	// "", a run saved before the setting existed) or PrecisionBF16, mixed precision
	// (tensor.Context.SetAutocast): the matrix products of every linear layer and
	// attention take bfloat16 operands, with float32 master weights, gradients and AdamW
	// state. It is part of the run: a resume continues it.
	Precision string `json:"precision,omitempty"`
	// Corpus, when set, mixes self-supervised tasks from real tables into the prior's
	// batches (see CorpusConfig).
	Corpus *CorpusConfig `json:"corpus,omitempty"`
}

// Training precisions (TrainConfig.Precision).
const (
	PrecisionFP32 = "fp32"
	// PrecisionBF16 is mixed-precision training with bfloat16 products and float32
	// master weights (Micikevicius et al., "Mixed Precision Training", ICLR 2018). It needs
	// no loss scaling: bfloat16 has float32's 8-bit exponent, so gradients do not underflow
	// where float16's would (Kalamkar et al., "A Study of BFLOAT16 for Deep Learning
	// Training", 2019).
	PrecisionBF16 = "bf16"
)

// autocast is the autocast dtype of the training context for the precision: 0 for
// float32.
func (tc TrainConfig) autocast() tensor.DType {
	if tc.Precision == PrecisionBF16 {
		return tensor.BFloat16
	}
	return 0
}

// PrecisionName is the run's precision, PrecisionFP32 when unset.
func (tc TrainConfig) PrecisionName() string {
	if tc.Precision == "" {
		return PrecisionFP32
	}
	return tc.Precision
}

// DefaultTrainConfig trains the shipped model: AdamW with linear warm-up and cosine decay
// (as TabPFN), gradient clipping at 1, and a prior of small datasets (30 to 160 rows, up to
// 16 features) so that a 2-core CPU makes a few steps a second; the random feature
// embeddings and the row attention let the model run on larger tables than it saw.
func DefaultTrainConfig() TrainConfig {
	p := prior.DefaultConfig()
	p.BatchSize, p.MinRows, p.MaxRows, p.MaxFeatures = 8, 30, 160, 16
	return TrainConfig{Steps: 2000, LR: 1e-3, MinLR: 1e-5, Warmup: 100, WeightDecay: 0.01, ClipNorm: 1,
		Seed: 1, CheckpointEvery: 100, Workers: 2, Prior: p}
}

// Progress is reported after every step.
type Progress struct {
	Step, Steps   int
	Loss, AvgLoss float64 // this step's and the running mean (exponential, α = 0.02)
	// Masked and Contrastive are the step's auxiliary losses before weighting (0 on a step
	// without them); Loss is the task's own.
	Masked, Contrastive float64
	LR, GradNorm        float64
	DatasetsPerSec      float64
	Elapsed, ETA        time.Duration
}

// Trainer pre-trains a model on batches from the prior, checkpointing atomically so that a
// killed run resumes exactly where its last checkpoint left it: the prior's batches are a
// pure function of (seed, step), and the checkpoint holds the parameters, the optimizer
// state and the step.
type Trainer struct {
	Model *Model
	Opt   *optim.AdamW
	Cfg   TrainConfig
	Step  int
	Path  string // checkpoint path ("" = no checkpoints)
	// Warnings, when set, receives warnings about the corpus (tables skipped, batches that
	// fell back to the prior), one line each.
	Warnings io.Writer

	sampler  *prior.Sampler
	corpus   *corpusSource
	ssl      *sslHeads // the auxiliary losses' heads (nil without masked or contrastive tasks)
	sched    optim.WarmupCosine
	avgLoss  float64
	datasets int
	dist     *distributed // nil: one process (see Distribute)
}

// NewTrainer builds a fresh model and optimizer.
func NewTrainer(dev device.Device, mc Config, tc TrainConfig, path string) (*Trainer, error) {
	m, err := New(dev, mc, tc.Seed)
	if err != nil {
		return nil, err
	}
	return newTrainer(m, tc, path)
}

func newTrainer(m *Model, tc TrainConfig, path string) (*Trainer, error) {
	if err := tc.Validate(); err != nil {
		return nil, err
	}
	tc.Prior.Seed = tc.Seed
	tc.Prior.Regression = m.Cfg.Regression()
	if !tc.Prior.Regression {
		tc.Prior.MaxClasses = min(tc.Prior.MaxClasses, m.Cfg.MaxClasses)
	}
	s, err := prior.NewSampler(tc.Prior)
	if err != nil {
		return nil, err
	}
	m.Cfg.TrainedFeatures = max(m.Cfg.TrainedFeatures, tc.Prior.MaxFeatures)
	if m.Cfg.Regression() && m.Bars == nil {
		if m.Bars, err = tc.PriorBars(m.Cfg.Bins); err != nil {
			return nil, err
		}
	}
	var params []optim.Param
	for _, n := range m.NamedParameters() {
		if tc.FreezeBody && !isHead(n.Name) {
			// No gradient is computed for a frozen parameter, and the optimizer never
			// sees it.
			n.Tensor.SetRequiresGrad(false)
			continue
		}
		params = append(params, optim.Param{Name: n.Name, T: n.Tensor})
	}
	var heads *sslHeads
	if tc.Corpus != nil && tc.Corpus.Fraction > 0 {
		if heads, err = newSSLHeads(m.Dev, m.Cfg, tc.Corpus, tc.Seed); err != nil {
			return nil, err
		}
		params = append(params, heads.optimParams()...)
	}
	ac := optim.DefaultAdamW()
	ac.LR, ac.WeightDecay, ac.MaxGradNorm = tc.LR, tc.WeightDecay, tc.ClipNorm
	opt, err := optim.NewAdamW(optim.SplitDecay(params), ac)
	if err != nil {
		heads.release()
		return nil, err
	}
	t := &Trainer{Model: m, Opt: opt, Cfg: tc, Path: path, sampler: s, sched: scheduleOf(tc), ssl: heads}
	if t.corpus, err = openCorpus(tc, func() io.Writer { return t.Warnings }); err != nil {
		opt.Release()
		heads.release()
		return nil, err
	}
	return t, nil
}

// isHead reports whether a parameter belongs to the target encoder or the decoder, the
// parts that TrainConfig.FreezeBody trains.
func isHead(name string) bool {
	return strings.HasPrefix(name, "encoder.target") || strings.HasPrefix(name, "decoder.")
}

// scheduleOf is the learning-rate schedule of tc's current phase, in steps since
// ScheduleStart.
func scheduleOf(tc TrainConfig) optim.WarmupCosine {
	return optim.WarmupCosine{Base: tc.LR, Min: tc.MinLR, Warmup: tc.Warmup, Total: tc.Steps - tc.ScheduleStart}
}

// Phase is a change of training settings part-way through a run: a curriculum step such as
// larger synthetic tables once the model has learned to classify small ones. Zero fields keep
// the current setting.
type Phase struct {
	Steps       int     // new total step count (must exceed the current step)
	LR          float64 // peak learning rate of the new schedule
	Warmup      int     // warm-up steps of the new schedule
	Batch       int     // datasets per step
	MinRows     int     // smallest synthetic dataset
	MaxRows     int     // largest synthetic dataset
	MaxFeatures int     // most features of a synthetic dataset
	// Mechanisms, when not empty, switches the prior's mechanism set (prior.MechanismsBasic
	// or prior.MechanismsExtended).
	Mechanisms string
}

// PhaseChanges returns p with every setting that the run already uses cleared, so that
// what is left is what would change: a resume given the same settings as the run it
// continues (its own command line) has no changes and continues the same phase. Steps is
// kept as given; it extends the run without starting a phase.
func (t *Trainer) PhaseChanges(p Phase) Phase {
	tc := t.Cfg
	if p.LR == tc.LR {
		p.LR = 0
	}
	if p.Warmup == tc.Warmup || (tc.WarmupAsked > 0 && p.Warmup == tc.WarmupAsked) {
		p.Warmup = 0
	}
	if p.Batch == tc.Prior.BatchSize {
		p.Batch = 0
	}
	if p.MinRows == tc.Prior.MinRows {
		p.MinRows = 0
	}
	if p.MaxRows == tc.Prior.MaxRows {
		p.MaxRows = 0
	}
	if p.MaxFeatures == tc.Prior.MaxFeatures {
		p.MaxFeatures = 0
	}
	if p.Mechanisms != "" {
		if c, err := tc.Prior.WithMechanisms(p.Mechanisms); err == nil && c.Mechanisms() == tc.Prior.Mechanisms() {
			p.Mechanisms = ""
		}
	}
	return p
}

// NewPhase continues the run from the current step with new settings: the prior is rebuilt
// with the new shapes (its batches stay a pure function of the seed and the step, so a
// resumed phase is still exact) and a new warm-up and cosine schedule spans the current step
// to Steps. The optimizer state carries over. The phase is recorded in the checkpoint's
// training config, so --resume continues it.
func (t *Trainer) NewPhase(p Phase) error {
	tc := t.Cfg
	if p.Steps > 0 {
		tc.Steps = p.Steps
	}
	if tc.Steps <= t.Step {
		return fmt.Errorf("tabpfn: new phase needs more steps than the %d done (got %d)", t.Step, tc.Steps)
	}
	if p.LR > 0 {
		tc.LR = p.LR
	}
	if p.Warmup > 0 {
		tc.Warmup, tc.WarmupAsked = p.Warmup, p.Warmup
	}
	if p.Batch > 0 {
		tc.Prior.BatchSize = p.Batch
	}
	if p.MinRows > 0 {
		tc.Prior.MinRows = p.MinRows
	}
	if p.MaxRows > 0 {
		tc.Prior.MaxRows = p.MaxRows
	}
	if p.MaxFeatures > 0 {
		tc.Prior.MaxFeatures = p.MaxFeatures
	}
	if p.Mechanisms != "" {
		var err error
		if tc.Prior, err = tc.Prior.WithMechanisms(p.Mechanisms); err != nil {
			return err
		}
	}
	tc.ScheduleStart = t.Step
	tc.Warmup = min(tc.Warmup, (tc.Steps-t.Step)/2)
	if err := tc.Validate(); err != nil {
		return err
	}
	s, err := prior.NewSampler(tc.Prior)
	if err != nil {
		return err
	}
	t.Cfg, t.sampler, t.sched = tc, s, scheduleOf(tc)
	t.Model.Cfg.TrainedFeatures = max(t.Model.Cfg.TrainedFeatures, tc.Prior.MaxFeatures)
	return nil
}

// Resume restores a trainer from a checkpoint written by Save. steps > 0 overrides the
// total number of steps (to extend a finished run). Everything read from the file is checked
// before it is used: the checksums (by checkpoint.Load), then the training config, the
// optimizer's counters and state tensors, the step and the average loss against their bounds,
// and the model against its config (FromFile), all before the model is built.
func Resume(dev device.Device, path string, steps int) (*Trainer, error) {
	f, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	s, err := trainingStateOf(f, steps)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	m, err := FromFile(dev, f)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	t, err := newTrainer(m, s.cfg, path)
	if err != nil {
		m.Release()
		return nil, err
	}
	if t.ssl != nil {
		if err := t.ssl.load(f); err != nil {
			t.Opt.Release()
			t.ssl.release()
			m.Release()
			return nil, fmt.Errorf("%w (file %s)", err, path)
		}
	} else if name := firstWithPrefix(f, sslPrefix); name != "" {
		t.Opt.Release()
		m.Release()
		return nil, fmt.Errorf("tabpfn: %s holds the auxiliary head parameter %q but its training config has no task that uses it", path, name)
	}
	if err := t.Opt.LoadState(s.opt); err != nil {
		t.Opt.Release()
		t.ssl.release()
		m.Release()
		return nil, fmt.Errorf("tabpfn: %s: %w", path, err)
	}
	t.Step, t.avgLoss = s.step, s.avgLoss
	return t, nil
}

// firstWithPrefix returns the first entry name of f that starts with prefix ("" if none).
func firstWithPrefix(f *checkpoint.File, prefix string) string {
	for _, name := range f.Names() {
		if strings.HasPrefix(name, prefix) {
			return name
		}
	}
	return ""
}

// trainingState is what a checkpoint holds beside the model.
type trainingState struct {
	cfg     TrainConfig
	opt     *optim.State
	step    int
	avgLoss float64
}

// trainingStateOf reads and checks a checkpoint's training state; steps > 0 replaces the
// total number of steps.
func trainingStateOf(f *checkpoint.File, steps int) (trainingState, error) {
	var s trainingState
	var err error
	if s.cfg, err = trainConfigOf(f.Metadata); err != nil {
		return s, err
	}
	if steps > 0 {
		s.cfg.Steps = steps
	}
	if err := s.cfg.Validate(); err != nil {
		return s, err
	}
	if s.opt, err = optimizerStateOf(f); err != nil {
		return s, err
	}
	s.step, s.avgLoss, err = progressOf(f.Metadata)
	return s, err
}

// Metadata keys of a training checkpoint, beside MetaConfig.
const (
	metaTrainConfig = "tabpfn.train_config"
	metaOptimizer   = "tabpfn.optimizer"
	metaStep        = "tabpfn.step"
	metaAvgLoss     = "tabpfn.avg_loss"
	optPrefix       = "opt." // optimizer state tensors
)

// Bounds of the training settings and state read from a checkpoint (TrainConfig.Validate,
// Resume). Like ConfigBounds they are far above any run kiln makes and keep what a file can
// make the trainer allocate or spawn finite.
const (
	// MaxTrainSteps bounds Steps, Warmup, CheckpointEvery, ScheduleStart and the step and
	// optimizer counters of a checkpoint (a billion steps; the shipped model took 11,230).
	MaxTrainSteps = 1_000_000_000
	// MaxLR bounds LR and MinLR (the shipped model trained at 1e-3 and below).
	MaxLR = 10
	// MaxWeightDecay bounds WeightDecay (0.01 by default).
	MaxWeightDecay = 10
	// MaxClipNorm bounds ClipNorm (1 by default; 0 turns clipping off).
	MaxClipNorm = 1e6
	// MaxWorkers bounds the prior generator goroutines (2 by default).
	MaxWorkers = 256
	// MaxBatch bounds Prior.BatchSize and MicroBatch (8 by default).
	MaxBatch = 4096
	// MaxBatchCells bounds Prior.BatchSize × Prior.MaxRows × Prior.MaxFeatures, the cells of
	// the largest batch the prior can draw (2^28, 1 GiB as float32; 819,200 by default).
	MaxBatchCells = 1 << 28
	// maxOptimizerScalars bounds the named scalars of an optimizer state (AdamW has none).
	maxOptimizerScalars = 16
)

// Validate checks every field of the training config against its range. Seed may take any
// value. The prior's row, feature and class bounds share ConfigBounds' limits; its fractions
// are checked by prior.NewSampler. Errors name the field, its value and the bound.
func (tc TrainConfig) Validate() error {
	p, hi := tc.Prior, ConfigBounds()
	for _, f := range []struct {
		name      string
		v, lo, hi int
	}{
		{"steps", tc.Steps, 1, MaxTrainSteps},
		{"warmup", tc.Warmup, 0, MaxTrainSteps},
		{"checkpoint_every", tc.CheckpointEvery, 0, MaxTrainSteps},
		{"workers", tc.Workers, 0, MaxWorkers},
		{"micro_batch", tc.MicroBatch, 0, MaxBatch},
		{"schedule_start", tc.ScheduleStart, 0, MaxTrainSteps},
		{"Prior.BatchSize", p.BatchSize, 1, MaxBatch},
		{"Prior.MinRows", p.MinRows, 1, hi.MaxRows},
		{"Prior.MaxRows", p.MaxRows, 1, hi.MaxRows},
		{"Prior.MaxFeatures", p.MaxFeatures, 1, hi.MaxFeatures},
		{"Prior.MaxClasses", p.MaxClasses, 2, hi.MaxClasses},
	} {
		if err := intInRange("train config "+f.name, f.v, f.lo, f.hi); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name      string
		v, lo, hi float64
		open      bool // v must exceed lo
	}{
		{"lr", tc.LR, 0, MaxLR, true},
		{"min_lr", tc.MinLR, 0, MaxLR, false},
		{"weight_decay", tc.WeightDecay, 0, MaxWeightDecay, false},
		{"clip_norm", tc.ClipNorm, 0, MaxClipNorm, false},
	} {
		if err := floatInRange("train config "+f.name, f.v, f.lo, f.hi, f.open); err != nil {
			return err
		}
	}
	switch tc.Precision {
	case "", PrecisionFP32, PrecisionBF16:
	default:
		return fmt.Errorf("tabpfn: train config precision %q is neither %q nor %q", tc.Precision, PrecisionFP32, PrecisionBF16)
	}
	if tc.Corpus != nil {
		if err := tc.Corpus.Validate(); err != nil {
			return err
		}
	}
	if cells := p.BatchSize * p.MaxRows * p.MaxFeatures; cells > MaxBatchCells {
		return fmt.Errorf("tabpfn: train config batches of %d datasets of up to %d rows × %d features hold %d cells, above the bound of %d",
			p.BatchSize, p.MaxRows, p.MaxFeatures, cells, MaxBatchCells)
	}
	return nil
}

// floatInRange checks lo ≤ v ≤ hi (lo < v when open), rejecting NaN.
func floatInRange(what string, v, lo, hi float64, open bool) error {
	switch {
	case math.IsNaN(v):
		return fmt.Errorf("tabpfn: %s is NaN", what)
	case open && v <= lo:
		return fmt.Errorf("tabpfn: %s %v must be above %v", what, v, lo)
	case v < lo:
		return fmt.Errorf("tabpfn: %s %v is below the minimum of %v", what, v, lo)
	case v > hi:
		return fmt.Errorf("tabpfn: %s %v is above the bound of %v", what, v, hi)
	}
	return nil
}

// trainConfigOf reads the training config of a checkpoint. Unknown fields are ignored: they
// are settings of other versions (such as the withdrawn label slots) that do not change the
// model, and a run saved by one must still resume.
func trainConfigOf(meta map[string]string) (TrainConfig, error) {
	var tc TrainConfig
	raw, ok := meta[metaTrainConfig]
	if !ok {
		return tc, errors.New("tabpfn: no training config (not a training checkpoint?)")
	}
	if err := json.Unmarshal([]byte(raw), &tc); err != nil {
		return tc, fmt.Errorf("tabpfn: unusable training config: %w", err)
	}
	return tc, nil
}

// optimizerStateOf reads the optimizer's counters from the metadata and its state tensors
// (the "opt.*" entries, float64 and finite) from f, checking the counters' bounds; the
// optimizer checks names and sizes against its parameters when it loads the state.
func optimizerStateOf(f *checkpoint.File) (*optim.State, error) {
	st := &optim.State{}
	if err := json.Unmarshal([]byte(f.Metadata[metaOptimizer]), st); err != nil {
		return nil, fmt.Errorf("tabpfn: optimizer state: %w", err)
	}
	if err := intInRange("optimizer step", st.Step, 0, MaxTrainSteps); err != nil {
		return nil, err
	}
	if err := intInRange("optimizer skipped steps", st.Skipped, 0, MaxTrainSteps); err != nil {
		return nil, err
	}
	if err := floatInRange("optimizer lr", st.LR, 0, MaxLR, false); err != nil {
		return nil, err
	}
	if len(st.Scalars) > maxOptimizerScalars {
		return nil, fmt.Errorf("tabpfn: optimizer state has %d scalars, above the bound of %d", len(st.Scalars), maxOptimizerScalars)
	}
	for k, v := range st.Scalars {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("tabpfn: optimizer scalar %q is %v", k, v)
		}
	}
	st.Tensors = map[string][]float64{}
	for _, name := range f.Names() {
		if !strings.HasPrefix(name, optPrefix) {
			continue
		}
		e := f.Entries[name]
		if dt := e.DType(); dt != "F64" {
			return nil, fmt.Errorf("tabpfn: optimizer state %q has dtype %s, want F64", name, dt)
		}
		for _, v := range e.F64 {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("tabpfn: optimizer state %q holds non-finite values (corrupt checkpoint)", name)
			}
		}
		st.Tensors[name[len(optPrefix):]] = e.F64
	}
	return st, nil
}

// progressOf reads the step a checkpoint reached and its running mean loss.
func progressOf(meta map[string]string) (int, float64, error) {
	step, err := strconv.Atoi(meta[metaStep])
	if err != nil {
		return 0, 0, fmt.Errorf("tabpfn: bad step: %w", err)
	}
	if err := intInRange("step", step, 0, MaxTrainSteps); err != nil {
		return 0, 0, err
	}
	avg, err := strconv.ParseFloat(meta[metaAvgLoss], 64)
	if err != nil {
		return 0, 0, fmt.Errorf("tabpfn: bad average loss: %w", err)
	}
	if math.IsNaN(avg) || math.IsInf(avg, 0) || avg < 0 {
		return 0, 0, fmt.Errorf("tabpfn: average loss %v is not a finite non-negative number", avg)
	}
	return step, avg, nil
}

// Save writes the checkpoint atomically: model, optimizer state, step.
func (t *Trainer) Save(path string) error {
	st, err := t.Opt.State()
	if err != nil {
		return err
	}
	return t.saveState(path, st, nil, nil)
}

// saveState writes the checkpoint with the optimizer state st, further entries and
// metadata (a distributed run's, gathered from its ranks).
func (t *Trainer) saveState(path string, st *optim.State, extra []checkpoint.Entry, more map[string]string) error {
	for name, v := range st.Tensors {
		extra = append(extra, checkpoint.Entry{Name: optPrefix + name, Shape: []int{len(v)}, F64: v})
	}
	tensors := st.Tensors
	st.Tensors = nil
	optJSON, _ := json.Marshal(st)
	st.Tensors = tensors
	tcJSON, _ := json.Marshal(t.Cfg)
	meta := map[string]string{
		metaTrainConfig: string(tcJSON),
		metaOptimizer:   string(optJSON),
		metaStep:        strconv.Itoa(t.Step),
		metaAvgLoss:     strconv.FormatFloat(t.avgLoss, 'g', -1, 64),
	}
	for k, v := range more {
		meta[k] = v
	}
	return t.Model.Save(path, meta, append(t.ssl.entries(), extra...))
}

// ExportModel writes only the model (no optimizer state, no auxiliary heads): the file
// that ships.
func (t *Trainer) ExportModel(path string, meta map[string]string) error {
	return t.Model.Save(path, meta, nil)
}

// priorBarsIndex is where PriorBars starts drawing datasets: far beyond the indices any
// training run reaches, so that the borders come from datasets of their own.
const priorBarsIndex = 1 << 62

// PriorBars returns a bar distribution of bins bins whose borders are the quantiles of the
// standardised test-row targets of datasets drawn from the regression prior p (about 100
// targets per bin), so that every bin carries about the same prior mass (TabPFN's borders
// come from its prior's targets the same way). It is a function of p, including its seed.
func PriorBars(p prior.Config, bins int) (*Bars, error) {
	p.Regression = true
	s, err := prior.NewSampler(p)
	if err != nil {
		return nil, err
	}
	want := 100 * bins
	var ys []float64
	for i := uint64(0); len(ys) < want && i < uint64(want); i++ {
		d := s.Sample(priorBarsIndex + i)
		for _, v := range d.Target[d.NTrain:] {
			ys = append(ys, float64(v))
		}
	}
	borders, err := BordersFromSamples(ys, bins)
	if err != nil {
		return nil, err
	}
	return NewBars(borders)
}

// PriorBars is the bar distribution of bins bins that a regression run with this config
// uses: PriorBars of its prior with its seed.
func (tc TrainConfig) PriorBars(bins int) (*Bars, error) {
	p := tc.Prior
	p.Seed = tc.Seed
	return PriorBars(p, bins)
}

// RegressionInputFromBatch turns a regression prior batch into the model's input and the
// test rows' targets. It panics with an error when a dataset has no target per row (a
// classification dataset), which would otherwise train on zeros.
func RegressionInputFromBatch(b prior.Batch, featureSeed uint64) (Input, []float32) {
	sh := b.Shape
	for i, d := range b.Datasets {
		if len(d.Target) != sh.Rows {
			panic(fmt.Errorf("tabpfn: regression batch %d: dataset %d has %d targets for %d rows (a classification dataset?)",
				b.Index, i, len(d.Target), sh.Rows))
		}
	}
	x, _ := b.Stack()
	t := b.Targets()
	in := Input{Batch: len(b.Datasets), Rows: sh.Rows, Features: sh.Features, NTrain: sh.NTrain, X: x, FeatureSeed: featureSeed}
	yTest := make([]float32, 0, in.Batch*(sh.Rows-sh.NTrain))
	for i := range b.Datasets {
		in.Target = append(in.Target, t[i*sh.Rows:i*sh.Rows+sh.NTrain]...)
		yTest = append(yTest, t[i*sh.Rows+sh.NTrain:(i+1)*sh.Rows]...)
	}
	return in, yTest
}

// InputFromBatch turns a prior batch into the model's input and the test labels.
func InputFromBatch(b prior.Batch, featureSeed uint64) (Input, []int32) {
	x, y := b.Stack()
	sh := b.Shape
	in := Input{Batch: len(b.Datasets), Rows: sh.Rows, Features: sh.Features, NTrain: sh.NTrain, X: x, FeatureSeed: featureSeed}
	yTest := make([]int32, 0, in.Batch*(sh.Rows-sh.NTrain))
	for i, d := range b.Datasets {
		in.Y = append(in.Y, y[i*sh.Rows:i*sh.Rows+sh.NTrain]...)
		yTest = append(yTest, y[i*sh.Rows+sh.NTrain:(i+1)*sh.Rows]...)
		in.Classes = append(in.Classes, d.Classes)
	}
	return in, yTest
}

// Run trains until Cfg.Steps or ctx is cancelled, calling report after each step and
// checkpointing every CheckpointEvery steps and at the end.
//
// In a distributed run (Distribute) every rank calls Run: each trains on its share of each
// batch, and an interrupt of any rank stops all of them after the same step, so that the
// checkpoint rank 0 writes is a state every rank agrees on.
func (t *Trainer) Run(ctx context.Context, report func(Progress)) error {
	d := t.dist
	// A distributed run's prior stream does not stop on ctx: the ranks must finish the
	// step in flight together, and decide together to stop after it.
	streamCtx := ctx
	if d != nil {
		streamCtx = context.Background()
	}
	stream, cancel := context.WithCancel(streamCtx)
	defer cancel()
	rank, size := t.Rank(), t.Size()
	batches := prior.StreamFunc(stream, uint64(t.Step), max(t.Cfg.Workers, 1),
		func(b uint64) prior.Batch { return t.batchShard(b, rank, size) })
	start := time.Now()
	startStep := t.Step
	dev := t.Model.Dev
	ec := tensor.NewContext()
	defer ec.Close()
	// Mixed precision is a setting of the context the passes run in: the model's layers
	// read it (tensor.Context.SetAutocast); parameters and the optimizer stay float32.
	ec.SetAutocast(t.Cfg.autocast())
	for t.Step < t.Cfg.Steps {
		var b prior.Batch
		var ok bool
		if d != nil {
			b, ok = <-batches
		} else {
			select {
			case <-ctx.Done():
				return t.checkpoint()
			case b, ok = <-batches:
			}
		}
		if !ok || (d == nil && ctx.Err() != nil) {
			// The prior stream closes when ctx is cancelled (an interrupt): keep the work
			// done so far rather than training on an empty batch.
			return t.checkpoint()
		}
		featureSeed := t.Cfg.Seed*1_000_003 + uint64(t.Step)
		lr := t.sched.LR(t.Step - t.Cfg.ScheduleStart)
		t.Opt.SetLR(lr)
		var loss, masked, contrastive float64
		n := len(b.Datasets)
		group := n
		if mb := t.Cfg.MicroBatch; mb > 0 && mb < n {
			group = mb
		}
		// denom is the number of datasets whose mean loss this rank's gradients are of: its
		// own batch in one process; in a distributed run the whole batch (DDP, ZeRO-1: the
		// ranks' gradients are summed) or the rank's share (DiLoCo).
		denom := n
		if d != nil {
			denom = d.lossWeightDenominator(t.Cfg.Prior.BatchSize, n)
		}
		var hook func(*tensor.Tensor)
		if d != nil {
			d.beginGrads()
			hook = d.backwardHook()
		}
		err := tensor.Catch(func() error {
			// The batch loss is the mean over all test rows, and every dataset of a batch has
			// the same number of them, so a group's mean enters with weight (its datasets)/denom.
			for lo := 0; lo < n; lo += group {
				hi := min(lo+group, n)
				part := prior.Batch{Index: b.Index, Shape: b.Shape, Datasets: b.Datasets[lo:hi]}
				func() {
					s := ec.NewScope() // one group's activations at a time
					defer s.Close()
					var l *tensor.Tensor
					var task, lm, lc float64
					if t.Model.Cfg.Regression() {
						in, yTest := RegressionInputFromBatch(part, featureSeed)
						l = t.Model.RegressionLoss(ec, in, yTest)
						task = l.Item()
					} else {
						l, task, lm, lc = t.classifierLoss(ec, part, featureSeed)
					}
					scale := 1.0
					if hi-lo < denom {
						scale = float64(hi-lo) / float64(denom)
						l = ops.MulScalar(l, scale)
					}
					loss += task * scale
					masked += lm * scale
					contrastive += lc * scale
					if hook != nil && hi == n {
						// The last pass of the step completes each gradient: a distributed
						// run starts sending them while the pass goes on.
						ops.BackwardWithHook(l, hook)
					} else {
						ops.Backward(l)
					}
				}()
			}
			s := ec.NewScope()
			defer s.Close()
			var err error
			if d != nil {
				err = d.afterBackward(t, lr)
			} else {
				err = t.Opt.Step()
			}
			t.Opt.ZeroGrad()
			return err
		})
		if err != nil {
			return fmt.Errorf("tabpfn: step %d: %w", t.Step, err)
		}
		stop := false
		if d != nil {
			if loss, masked, contrastive, stop, err = d.agree(loss, masked, contrastive, ctx.Err() != nil); err != nil {
				return fmt.Errorf("tabpfn: step %d: %w", t.Step, err)
			}
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("tabpfn: step %d: loss is %v", t.Step, loss)
		}
		if aux := masked + contrastive; math.IsNaN(aux) || math.IsInf(aux, 0) {
			return fmt.Errorf("tabpfn: step %d: auxiliary losses are %v (masked) and %v (contrastive)", t.Step, masked, contrastive)
		}
		if err := dev.Sync(); err != nil {
			return err
		}
		t.Step++
		if d != nil {
			t.datasets += t.Cfg.Prior.BatchSize
		} else {
			t.datasets += n
		}
		if d != nil {
			if err := d.afterStep(t); err != nil {
				return err
			}
		}
		if t.avgLoss == 0 {
			t.avgLoss = loss
		} else {
			t.avgLoss = 0.98*t.avgLoss + 0.02*loss
		}
		if report != nil {
			el := time.Since(start)
			done := t.Step - startStep
			eta := time.Duration(float64(el) / float64(done) * float64(t.Cfg.Steps-t.Step))
			gn := t.Opt.GradNorm()
			if d != nil {
				gn = d.gradNorm(t)
			}
			report(Progress{Step: t.Step, Steps: t.Cfg.Steps, Loss: loss, AvgLoss: t.avgLoss, LR: lr, Masked: masked, Contrastive: contrastive,
				GradNorm: gn, DatasetsPerSec: float64(t.datasets) / el.Seconds(), Elapsed: el, ETA: eta})
		}
		if stop {
			// Some rank was interrupted: all stop here. DiLoCo's ranks hold different
			// parameters between synchronisations, so its checkpoint stays the last one.
			if d.atSyncPoint(t) {
				return t.checkpoint()
			}
			return nil
		}
		if t.Cfg.CheckpointEvery > 0 && t.Step%t.Cfg.CheckpointEvery == 0 && (d == nil || d.atSyncPoint(t)) {
			if err := t.checkpoint(); err != nil {
				return err
			}
		}
	}
	if d != nil && !d.atSyncPoint(t) {
		return nil
	}
	return t.checkpoint()
}

func (t *Trainer) checkpoint() error {
	if t.dist != nil {
		return t.dist.checkpoint(t)
	}
	if t.Path == "" {
		return nil
	}
	return t.Save(t.Path)
}

// LogProgress writes one line per report to w (for logs and terminals).
func LogProgress(w io.Writer) func(Progress) {
	return func(p Progress) {
		aux := ""
		if p.Masked != 0 {
			aux += fmt.Sprintf("  masked %.4f", p.Masked)
		}
		if p.Contrastive != 0 {
			aux += fmt.Sprintf("  contrastive %.4f", p.Contrastive)
		}
		fmt.Fprintf(w, "step %d/%d  loss %.4f  avg %.4f%s  lr %.2e  |g| %.2f  %.1f datasets/s  elapsed %s  eta %s\n",
			p.Step, p.Steps, p.Loss, p.AvgLoss, aux, p.LR, p.GradNorm, p.DatasetsPerSec,
			p.Elapsed.Round(time.Second), p.ETA.Round(time.Second))
	}
}
