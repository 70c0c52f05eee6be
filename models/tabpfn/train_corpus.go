package tabpfn

import (
	"fmt"
	"io"
	"slices"

	"github.com/kiln-ml/kiln/data/corpus"
	"github.com/kiln-ml/kiln/models/tabpfn/prior"
	"github.com/kiln-ml/kiln/models/tabpfn/selfsup"
	"github.com/kiln-ml/kiln/tensor"
)

// CorpusConfig mixes self-supervised tasks from a corpus of real tables into pre-training
// (package selfsup: column-as-target prediction in context, after TabDPT, Ma et al. 2024,
// with the optional masked-cell and contrastive losses of ssl.go on the same tables). A
// regression model draws regression tasks (selfsup.Config.Regression: a numeric column as
// the continuous target, standardised as the regression prior's); the masked-cell and
// contrastive losses are for classifiers only. It is part of the training config, so a
// resumed run reads the same corpus and losses.
type CorpusConfig struct {
	// Dir is the folder of the corpus's CSV tables.
	Dir string `json:"dir"`
	// Fraction is the share of batches drawn from the corpus; the rest come from the prior.
	Fraction float64 `json:"fraction"`
	// Tasks lists the self-supervised tasks (selfsup.ParseTasks).
	Tasks []string `json:"tasks"`
	// Guard lists folders of evaluation tables; corpus tables that copy one are refused.
	Guard []string `json:"guard,omitempty"`
	// MaxRows and MaxCols bound each table read (0: corpus.DefaultLimits).
	MaxRows int `json:"max_rows,omitempty"`
	MaxCols int `json:"max_cols,omitempty"`
	// HoldoutEvery, when 2 or more, keeps every HoldoutEvery-th table (selfsup.HoldOut) out
	// of training, for HeldOutCorpusLoss.
	HoldoutEvery int `json:"holdout_every,omitempty"`
	// MaskRate and MaskedWeight set the masked-cell task (selfsup.TaskMasked; see ssl.go):
	// the share of feature cells hidden and the weight of their reconstruction loss, added
	// to the task's loss (0: selfsup.DefaultMaskRate, DefaultMaskedWeight).
	MaskRate     float64 `json:"mask_rate,omitempty"`
	MaskedWeight float64 `json:"masked_weight,omitempty"`
	// CorruptionRate, ContrastiveWeight and Temperature set the contrastive task
	// (selfsup.TaskContrastive): the share of a view's cells replaced, the weight of the
	// InfoNCE loss and its temperature (0: selfsup.DefaultCorruptionRate,
	// DefaultContrastiveWeight, DefaultInfoNCETemperature).
	CorruptionRate    float64 `json:"corruption_rate,omitempty"`
	ContrastiveWeight float64 `json:"contrastive_weight,omitempty"`
	Temperature       float64 `json:"temperature,omitempty"`
}

// Validate checks the corpus settings (not the folder, which opening checks).
func (c CorpusConfig) Validate() error {
	if c.Dir == "" {
		return fmt.Errorf("tabpfn: corpus config needs a folder")
	}
	if err := floatInRange("corpus fraction", c.Fraction, 0, 1, false); err != nil {
		return err
	}
	if _, err := selfsup.ParseTasks(c.Tasks); err != nil {
		return err
	}
	if err := c.validateAux(); err != nil {
		return err
	}
	if err := intInRange("corpus max_rows", c.MaxRows, 0, ConfigBounds().MaxRows); err != nil {
		return err
	}
	if err := intInRange("corpus holdout_every", c.HoldoutEvery, 0, 1_000_000); err != nil {
		return err
	}
	return intInRange("corpus max_cols", c.MaxCols, 0, ConfigBounds().MaxFeatures)
}

// Equal reports whether two corpus settings draw the same tasks and losses (an auxiliary
// setting left at zero equals its default).
func (c *CorpusConfig) Equal(o *CorpusConfig) bool {
	if c == nil || o == nil {
		return c == o
	}
	a, b := c.withDefaults(), o.withDefaults()
	return a.Dir == b.Dir && a.Fraction == b.Fraction && slices.Equal(a.Tasks, b.Tasks) &&
		slices.Equal(a.Guard, b.Guard) && a.MaxRows == b.MaxRows && a.MaxCols == b.MaxCols &&
		a.HoldoutEvery == b.HoldoutEvery && a.MaskRate == b.MaskRate && a.MaskedWeight == b.MaskedWeight &&
		a.CorruptionRate == b.CorruptionRate && a.ContrastiveWeight == b.ContrastiveWeight &&
		a.Temperature == b.Temperature
}

// corpusSource is an opened corpus and its task sampler.
type corpusSource struct {
	cfg   CorpusConfig
	tasks *selfsup.Sampler
	data  *corpus.Corpus
}

// openCorpus opens the corpus of tc for training, on the tables HoldoutEvery leaves in
// (nil when it has none or its fraction is 0).
func openCorpus(tc TrainConfig, warn func() io.Writer) (*corpusSource, error) {
	cc := tc.Corpus
	if cc == nil || cc.Fraction == 0 {
		return nil, nil
	}
	return openCorpusTables(tc, warn, false)
}

// openCorpusTables opens the corpus of tc with a task sampler on its training tables, or on
// its held-out ones when held is true.
func openCorpusTables(tc TrainConfig, warn func() io.Writer, held bool) (*corpusSource, error) {
	cc := tc.Corpus
	if err := cc.Validate(); err != nil {
		return nil, err
	}
	var guard *corpus.Guard
	if len(cc.Guard) > 0 {
		var err error
		if guard, err = corpus.NewGuard(cc.Guard...); err != nil {
			return nil, err
		}
	}
	lim := corpus.DefaultLimits()
	if cc.MaxRows > 0 {
		lim.MaxRows = cc.MaxRows
	}
	if cc.MaxCols > 0 {
		lim.MaxCols = cc.MaxCols
	}
	src := &corpusSource{cfg: *cc}
	c, err := corpus.Open(cc.Dir, corpus.Options{Limits: lim, Seed: tc.Seed, Guard: guard, Warn: func(msg string) {
		if w := warn(); w != nil {
			fmt.Fprintln(w, "tabpfn: warning:", msg)
		}
	}})
	if err != nil {
		return nil, err
	}
	sc := selfsup.Config{Seed: tc.Seed, MaxClasses: tc.Prior.MaxClasses, Regression: tc.Prior.Regression}
	if cc.HoldoutEvery >= 2 || held {
		train, heldOut := selfsup.HoldOut(c.Len(), cc.HoldoutEvery)
		sc.Tables = train
		if held {
			sc.Tables = heldOut
		}
		if len(sc.Tables) == 0 {
			return nil, fmt.Errorf("tabpfn: corpus %s: no table left (holdout_every %d of %d tables)", cc.Dir, cc.HoldoutEvery, c.Len())
		}
	}
	s, err := selfsup.New(c, sc)
	if err != nil {
		return nil, err
	}
	src.data, src.tasks = c, s
	return src, nil
}

// fromCorpus reports whether batch b of a run with this seed comes from the corpus: a
// pure function of (seed, b), so a resumed run draws the same mix.
func fromCorpus(seed, b uint64, fraction float64) bool {
	u := float64(mix(seed, b, streamCorpus)>>11) / (1 << 53)
	return u < fraction
}

// streamCorpus separates the corpus coin from the classifier's random streams.
const streamCorpus uint64 = 0xc0a9

// batch returns training batch b: from the corpus for a share Corpus.Fraction of the
// indices, from the prior otherwise, and from the prior too when the corpus cannot make
// the batch (every table drawn was unusable), with a warning.
func (t *Trainer) batch(b uint64) prior.Batch {
	if src := t.corpus; src != nil && fromCorpus(t.Cfg.Seed, b, src.cfg.Fraction) {
		out, err := src.tasks.Batch(b, t.sampler.BatchShape(b), t.Cfg.Prior.BatchSize)
		if err == nil {
			return out
		}
		if w := t.Warnings; w != nil {
			fmt.Fprintf(w, "tabpfn: warning: batch %d from the prior instead: %v\n", b, err)
		}
	}
	return t.sampler.Batch(b)
}

// batchShard is rank's share of batch b in a run of size ranks: the datasets at positions
// rank, rank+size, … of t.batch(b) (all of it on one rank). A prior batch draws only those
// datasets (prior.Sampler.BatchShard); a corpus batch is made whole on every rank, since its
// tasks come from one table draw, and then split.
func (t *Trainer) batchShard(b uint64, rank, size int) prior.Batch {
	if size <= 1 {
		return t.batch(b)
	}
	if src := t.corpus; src == nil || !fromCorpus(t.Cfg.Seed, b, src.cfg.Fraction) {
		return t.sampler.BatchShard(b, rank, size)
	}
	full := t.batch(b)
	out := prior.Batch{Index: full.Index, Shape: full.Shape}
	for i := rank; i < len(full.Datasets); i += size {
		out.Datasets = append(out.Datasets, full.Datasets[i])
	}
	return out
}

// CorpusTables returns the number of corpus tables and how many were found unusable so far
// (0, 0 without a corpus).
func (t *Trainer) CorpusTables() (tables, bad int) {
	if t.corpus == nil {
		return 0, 0
	}
	return t.corpus.data.Len(), t.corpus.data.Bad()
}

// HeldOutCorpusLoss returns model m's mean loss (cross-entropy; for a regression model, the
// bar distribution's negative log-likelihood on regression tasks) on batches batches of tasks drawn
// from the corpus tables that tc.Corpus.HoldoutEvery keeps out of training, with the shapes
// of tc's prior: how well what was learned carries over to real tables never trained on.
// The tasks are a pure function of tc's seed, so models are compared on the same ones.
// Gradients are not recorded; m is only read.
func HeldOutCorpusLoss(m *Model, tc TrainConfig, batches int) (float64, error) {
	if tc.Corpus == nil || tc.Corpus.HoldoutEvery < 2 {
		return 0, fmt.Errorf("tabpfn: held-out corpus loss needs a corpus with holdout_every of 2 or more")
	}
	if batches < 1 {
		return 0, fmt.Errorf("tabpfn: held-out corpus loss needs at least one batch, got %d", batches)
	}
	tc.Prior.Seed = tc.Seed
	tc.Prior.Regression = m.Cfg.Regression()
	if !tc.Prior.Regression {
		tc.Prior.MaxClasses = min(tc.Prior.MaxClasses, m.Cfg.MaxClasses)
	}
	total := 0.0
	err := eachHeldOutBatch(tc, batches, func(ec *tensor.Context, b uint64, batch prior.Batch) {
		if tc.Prior.Regression {
			in, yTest := RegressionInputFromBatch(batch, tc.Seed*1_000_003+b)
			total += m.RegressionLoss(ec, in, yTest).Item()
			return
		}
		in, yTest := InputFromBatch(batch, tc.Seed*1_000_003+b)
		total += m.Loss(ec, in, yTest).Item()
	})
	if err != nil {
		return 0, err
	}
	return total / float64(batches), nil
}

// eachHeldOutBatch calls fn with batches batches of tasks drawn from the corpus tables that
// tc.Corpus.HoldoutEvery keeps out of training, in the shapes of tc.Prior (whose seed
// draws them), each in a scope of its own of one context that records no gradients.
func eachHeldOutBatch(tc TrainConfig, batches int, fn func(ec *tensor.Context, b uint64, batch prior.Batch)) error {
	ps, err := prior.NewSampler(tc.Prior)
	if err != nil {
		return err
	}
	src, err := openCorpusTables(tc, func() io.Writer { return nil }, true)
	if err != nil {
		return err
	}
	return tensor.Catch(func() error {
		ec := tensor.NewContext()
		defer ec.Close()
		ec.SetGradEnabled(false)
		for b := uint64(0); b < uint64(batches); b++ {
			batch, err := src.tasks.Batch(b, ps.BatchShape(b), tc.Prior.BatchSize)
			if err != nil {
				return err
			}
			func() {
				sc := ec.NewScope()
				defer sc.Close()
				fn(ec, b, batch)
			}()
		}
		return nil
	})
}
