// Package prior generates the synthetic classification and regression datasets TabPFN is
// trained on.
//
// A prior-fitted network (Müller et al., "Transformers Can Do Bayesian Inference", ICLR 2022)
// learns to approximate the posterior predictive distribution of a prior over datasets by
// training on datasets drawn from that prior. TabPFN (Hollmann et al., "TabPFN: A Transformer
// That Solves Small Tabular Classification Problems in a Second", ICLR 2023, section 4 and
// appendix C) uses two priors, both implemented here:
//
//   - A structural causal model (SCM) prior: a random MLP-shaped directed acyclic graph whose
//     root nodes are sampled noise ("causes") and whose other nodes are activation(weighted sum
//     of parents) plus Gaussian noise. Edges are pruned by weight dropout, so graphs are sparse.
//     Features and the target are read from random nodes, so some features are causes of the
//     target, some are effects, and some are unrelated (TabPFN appendix C.2).
//   - A Bayesian-neural-network (BNN) prior: features are independent draws, the target is the
//     output of a randomly initialised MLP on them plus noise (Müller et al. 2022, section 5;
//     TabPFN appendix C.1).
//
// Per dataset the depth, width, weight scale, weight dropout, noise scale, activation (tanh,
// leaky ReLU, ELU or identity) and root distribution (Gaussian, uniform or Student-t) are drawn
// at random. The continuous target becomes K classes by random thresholds at quantiles of the
// training rows, and the class order is shuffled so that label order carries no meaning
// (TabPFN's "multiclass rank" transform). With Config.Regression the continuous target is
// kept, shaped by skew, noise, heteroscedasticity and outliers (see regression.go).
//
// Two extensions are on with WithMechanisms(MechanismsExtended) and off in DefaultConfig and
// in any stored configuration that lacks them (whose datasets therefore stay the same).
// Config.MixedActivations draws each layer's activation on its own from a wider set that adds
// a step, the absolute value and the sine (after TabPFN v2, Hollmann et al., Nature 2025), so
// that mechanisms can be piecewise constant (the threshold structure trees fit) or
// non-monotone. Config.ArgmaxClassFraction gives a share of the datasets with three or more
// classes unordered classes, each row taking the class of the largest of K targets, as a
// softmax classifier would. Thresholds on one target can only make classes that lie in order
// along one direction, which real multi-class data (digits, vehicle silhouettes, glass types)
// does not. Argmax classes make the datasets more learnable by a nearest-neighbour classifier
// and the mixed activations less, mostly through the step: a step node's value is two
// clusters blurred by noise, and thresholds inside a cluster give labels that no classifier
// can learn. The extensions are off by default because fine-tuning the shipped model on them
// has not raised its ROC AUC on real data (measured in bench/results/tabpfn-2026-11-27.md).
//
// Some datasets get categorical features (a continuous feature discretised at random
// quantiles into 2..10 categories with shuffled codes) and missing values (cells set to NaN
// completely at random).
//
// Every dataset is a deterministic function of (Config.Seed, index): its random numbers come
// from a ChaCha8 generator keyed with both, so datasets are the same however many goroutines
// generate them and in whatever order. Features are standardised on the training rows with the
// same outlier bounding data/preprocess applies at inference (TabPFN's remove_outliers and
// normalize_data), so the network trains on inputs distributed like the ones it will see.
package prior

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
)

// Kind says which prior produced a dataset.
type Kind int

const (
	// SCM is the structural-causal-model prior.
	SCM Kind = iota
	// BNN is the Bayesian-neural-network prior.
	BNN
)

// String returns "scm" or "bnn".
func (k Kind) String() string {
	if k == BNN {
		return "bnn"
	}
	return "scm"
}

// Dataset is one synthetic classification or regression task. The first NTrain rows are the
// training part (the context the network conditions on), the rest the test part whose
// targets it predicts. In a classification dataset every class in [0, Classes) occurs in the
// training part, so test labels are always classes seen in training.
type Dataset struct {
	X []float32 // Rows×Features, row-major; NaN marks a missing value
	Y []int32   // class of each row, in [0, Classes); nil for a regression dataset
	// Target is the continuous target of each row of a regression dataset (Config.Regression),
	// standardised on the training rows; nil for a classification dataset (Classes is 0).
	Target   []float32
	Rows     int
	Features int
	Classes  int
	NTrain   int
	// Categorical marks the features that were discretised (their values are category codes,
	// standardised like every feature).
	Categorical []bool
	// Prior says which prior drew the dataset.
	Prior Kind
	// Cells, for a task drawn from a real table (package selfsup), describes its feature
	// cells for the self-supervised losses that reconstruct or corrupt them; nil for the
	// prior's datasets.
	Cells *Cells
}

// Cells describes the feature cells of a task drawn from a real table.
type Cells struct {
	// Levels is each feature's number of categories (0 for a numeric feature).
	Levels []int
	// Codes holds, Rows×Features, the category of each cell of a categorical feature, in
	// the task's shuffled coding (−1 for a numeric feature's cell or a missing cell).
	Codes []int32
	// Slot is the dataset's position in its batch: the key of its random streams, the same
	// whichever share of the batch a process trains on.
	Slot int
}

// At returns feature j of row i.
func (d *Dataset) At(i, j int) float32 { return d.X[i*d.Features+j] }

// Shape is the size shared by the datasets of one batch: the trainer pads nothing because
// every dataset in a batch has these rows, features and split position.
type Shape struct {
	Rows, Features, NTrain int
}

// Config controls the sampler. Start from DefaultConfig and change fields; NewSampler checks
// the result.
type Config struct {
	// Seed selects the family of datasets; dataset i of a seed never changes.
	Seed uint64
	// BatchSize is the number of datasets per Batch.
	BatchSize int
	// MinRows and MaxRows bound the rows of a dataset (training plus test).
	MinRows, MaxRows int
	// MaxFeatures bounds the number of features (at least 1 is drawn).
	MaxFeatures int
	// MaxClasses bounds the number of classes (at least 2 are drawn).
	MaxClasses int
	// MinTrainFraction and MaxTrainFraction bound the share of rows in the training part.
	MinTrainFraction, MaxTrainFraction float64
	// BNNFraction is the share of datasets drawn from the BNN prior; the rest come from the
	// SCM prior.
	BNNFraction float64
	// CategoricalFraction is the share of datasets that get some categorical features.
	CategoricalFraction float64
	// MissingFraction is the share of datasets that get missing values, each with a missing
	// rate drawn uniformly from (0, MaxMissingRate].
	MissingFraction float64
	MaxMissingRate  float64
	// ArgmaxClassFraction is the share of datasets drawn with three or more classes whose
	// classes are the argmax of that many targets (unordered classes) rather than thresholds
	// on one target (ordered ones). 0, also what a stored configuration without the field
	// reads as, draws only thresholds.
	ArgmaxClassFraction float64 `json:",omitempty"`
	// MixedActivations draws each layer's activation separately from the extended set (adding
	// step, absolute value and sine) instead of one of TabPFN's four for the whole graph.
	MixedActivations bool `json:",omitempty"`
	// Regression makes regression datasets: the target node's value, with noise,
	// heteroscedasticity, outliers and skew (see regression.go), instead of classes.
	// MaxClasses and ArgmaxClassFraction are then unused.
	Regression bool `json:",omitempty"`
	// GroupFraction is the share of datasets drawn as grouped designs (groups.go): rows in
	// groups that share an identifier, group-level features and a group effect on the
	// target. 0, also what a stored configuration without the field reads as, draws none.
	GroupFraction float64 `json:",omitempty"`
}

// DefaultConfig returns TabPFN-like settings: up to 1024 rows, 100 features and 10 classes.
func DefaultConfig() Config {
	return Config{
		BatchSize:           8,
		MinRows:             64,
		MaxRows:             1024,
		MaxFeatures:         100,
		MaxClasses:          10,
		MinTrainFraction:    0.3,
		MaxTrainFraction:    0.9,
		BNNFraction:         0.3,
		CategoricalFraction: 0.2,
		MissingFraction:     0.2,
		MaxMissingRate:      0.3,
	}
}

// Mechanism sets: the names WithMechanisms takes.
const (
	// MechanismsBasic is TabPFN's original prior (DefaultConfig): one activation of four per
	// graph, classes by thresholds on one target.
	MechanismsBasic = "basic"
	// MechanismsExtended adds mixed activations and argmax classes on half of the datasets
	// with three or more classes.
	MechanismsExtended = "extended"
)

// extendedArgmaxClassFraction is MechanismsExtended's ArgmaxClassFraction.
const extendedArgmaxClassFraction = 0.5

// WithMechanisms returns c with the named mechanism set switched on.
func (c Config) WithMechanisms(name string) (Config, error) {
	switch name {
	case MechanismsBasic:
		c.ArgmaxClassFraction, c.MixedActivations = 0, false
	case MechanismsExtended:
		c.ArgmaxClassFraction, c.MixedActivations = extendedArgmaxClassFraction, true
	default:
		return c, fmt.Errorf("prior: unknown mechanism set %q (want %q or %q)", name, MechanismsBasic, MechanismsExtended)
	}
	return c, nil
}

// Mechanisms names the mechanism set c uses: MechanismsBasic, MechanismsExtended, or a
// description of another mix.
func (c Config) Mechanisms() string {
	switch {
	case c.ArgmaxClassFraction == 0 && !c.MixedActivations:
		return MechanismsBasic
	case c.ArgmaxClassFraction == extendedArgmaxClassFraction && c.MixedActivations:
		return MechanismsExtended
	}
	return fmt.Sprintf("argmax classes %v, mixed activations %v", c.ArgmaxClassFraction, c.MixedActivations)
}

func (c Config) validate() error {
	switch {
	case c.BatchSize < 1:
		return fmt.Errorf("prior: BatchSize %d < 1", c.BatchSize)
	case c.MinRows < 4 || c.MaxRows < c.MinRows:
		return fmt.Errorf("prior: need 4 ≤ MinRows ≤ MaxRows, got %d, %d", c.MinRows, c.MaxRows)
	case c.MaxFeatures < 1:
		return fmt.Errorf("prior: MaxFeatures %d < 1", c.MaxFeatures)
	case c.MaxClasses < 2 && !c.Regression:
		return fmt.Errorf("prior: MaxClasses %d < 2", c.MaxClasses)
	case !(c.MinTrainFraction > 0 && c.MinTrainFraction <= c.MaxTrainFraction && c.MaxTrainFraction < 1):
		return fmt.Errorf("prior: need 0 < MinTrainFraction ≤ MaxTrainFraction < 1, got %v, %v", c.MinTrainFraction, c.MaxTrainFraction)
	}
	for _, f := range []float64{c.BNNFraction, c.CategoricalFraction, c.MissingFraction, c.MaxMissingRate, c.ArgmaxClassFraction, c.GroupFraction} {
		if !(f >= 0 && f <= 1) {
			return fmt.Errorf("prior: fractions must lie in [0, 1]: %+v", c)
		}
	}
	if c.MaxMissingRate >= 1 {
		return fmt.Errorf("prior: MaxMissingRate %v must be below 1", c.MaxMissingRate)
	}
	return nil
}

// Random-number domains: each (seed, index) pair feeds several independent streams.
const (
	domainDataset = 1
	domainShape   = 2
	domainBatch   = 3
)

// newRand returns a ChaCha8 generator keyed with (seed, index, domain, attempt): ChaCha8 keys
// give independent streams, unlike nearby seeds of a linear generator.
func newRand(seed, index uint64, domain, attempt uint32) *rand.Rand {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], index)
	binary.LittleEndian.PutUint32(key[16:], domain)
	binary.LittleEndian.PutUint32(key[20:], attempt)
	copy(key[24:], "kilnPFN1")
	return rand.New(rand.NewChaCha8(key))
}

// uniformInt returns an integer uniform on [lo, hi].
func uniformInt(r *rand.Rand, lo, hi int) int { return lo + r.IntN(hi-lo+1) }

// uniform returns a float uniform on [lo, hi).
func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// logUniform returns a float whose logarithm is uniform on [log lo, log hi).
func logUniform(r *rand.Rand, lo, hi float64) float64 {
	return math.Exp(uniform(r, math.Log(lo), math.Log(hi)))
}
