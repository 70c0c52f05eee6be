package tabpfn

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/data/preprocess"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/metrics"
	"github.com/kiln-ml/kiln/tensor"
)

// Defaults of the classifier's options.
const (
	// DefaultEnsemble is the largest number of ensemble members the automatic choice makes
	// (see AutoEnsemble). Each member is one forward pass over the training rows plus the
	// test rows, so time grows linearly with it; on the CPU backend most of a member's time
	// is row attention. BenchmarkClassifierFitPredict times one member and the default on a
	// 1000×20 table with 1000 test rows (measured in bench/results/tabpfn-2026-11-27.md).
	DefaultEnsemble = 4
	// EnsembleCellBudget is the number of training cells (rows × (features+1)) the automatic
	// ensemble spends on: small tables, where a forward pass is cheap and an ensemble helps
	// most, get DefaultEnsemble members; a table of 1000 rows and 20 features gets one, which
	// keeps fit+predict on a laptop CPU within a few seconds.
	EnsembleCellBudget = 24000
	// DefaultCodebooks is the fewest output codes (members) the automatic ensemble gives a
	// table with more classes than the model's outputs. Every codebook merges classes, so
	// each one more tells the classes apart better, and the pairs of candidate classes
	// (refinePairs) see a row's class only when the codebooks' pool ranks it among the
	// first PairCandidates: on letter, 8 codebooks did that for more rows than 4 and raised
	// the ROC AUC, at a fraction of the pairs' cost (bench/results/tabpfn-scale-2026-12-03.md).
	DefaultCodebooks = 8
	// DefaultTemperature is the softmax temperature TabPFN uses at inference (its
	// softmax_temperature default of 0.9): slightly sharper than the trained logits.
	DefaultTemperature = 0.9
)

// Compile-time checks that Classifier is what the evaluation protocol runs.
var (
	_ metrics.Classifier  = (*Classifier)(nil)
	_ metrics.ColumnAware = (*Classifier)(nil)
)

// Classifier is TabPFN behind the Fit/PredictProba interface of metrics.Classifier. Fit
// takes no gradient step: it validates the training rows and prepares each ensemble
// member's view of them, which PredictProba then feeds to the model as context together with
// the test rows (in-context learning, Hollmann et al. 2023).
//
// # Concurrency
//
// A Classifier is configured and fitted by one goroutine; once Fit has returned,
// PredictProba and Predict are safe for concurrent use. A *Model only has its parameters
// read, so any number of classifiers in any number of goroutines may share one (WithModel),
// each prediction computing in an execution context of its own (see tensor.Context).
//
// # Ensemble
//
// Predictions average the probabilities of Ensemble members (TabPFN's ensembling, Hollmann
// et al. 2023, section 4). Member i differs from the others in
//
//   - its preprocessing variant (DefaultVariants, cycled, unless WithVariants), fitted on
//     the training rows only: every second member sees the numeric columns rotated onto
//     their principal axes;
//   - the order of its features (a random permutation) and its FeatureSeed, which draws the
//     random per-feature embeddings;
//   - a rotation of the class labels: class c is shown to the model as (c + o_i) mod k and
//     the output columns are rotated back, with offsets o_i spread evenly over 0..k−1.
//
// # Limits of the model
//
// A training set of more rows than the model was trained on (its Config's MaxRows) is seen
// through local contexts by default (WithLocalContexts): each test row is predicted by an
// ensemble of its own, fitted on the DefaultLocalRows training rows nearest it, so the model
// works at a size it knows and a row's neighbourhood decides its class. On letter at 10,000
// training rows this scored far above one context of all of them, in less time
// (bench/results/tabpfn-local-2026-12-04.md). A smaller training set of at least 256 rows is
// seen so too, through contexts of 64 or 256 rows, where they predict its held-out rows
// better than one context of them all (a table whose rows come in groups; see local.go), and
// one of 64 to 255 rows through a mixture of contexts of 16 and 32 rows and one context,
// weighted by how well they predict its rows under cross-validation (stack.go). The rest of
// this section is about whole contexts: training sets that one context predicts best, or
// WithLocalContexts(0).
//
// Every training row and feature reaches the model up to the per-member limits:
// MaxContextRows rows (or the model's own MaxRows where larger) and DefaultMemberFeatures
// features (the widest tables the model was trained on where it records them, else
// MaxContextFeatures), unless WithMaxRows and WithMaxFeatures set others.
// More training rows than the limit: each member uses its own stratified subsample of that
// many rows, and a warning says so. More features (after preprocessing, counting
// missing-value indicators) than the limit: each member uses its own subset (random, or
// weighted by relevance to the target: WithFeatureSelection), with a warning; with random
// subsets a member on principal axes keeps its leading components instead of a random
// subset of them. Contexts above the sizes the model was trained on (its Config's MaxRows,
// and TrainedFeatures or else MaxFeatures) get a warning that the model extrapolates; on
// the shared tables, 2,000 training rows instead of 1,000 scored slightly better than the
// subsample (bench/results/tabpfn-scale-2026-12-03.md). Time grows with the square of the
// rows: WithMaxRows(1024) restores the faster context of the shipped model's training.
//
// # Memory
//
// A prediction holds the activations of one member's rows once (features+1 tokens of the
// model's width per row) plus one block of work (see chunkedScorer), so memory grows
// linearly with the rows and features, and not with the ensemble or the number of layers.
// Fit and PredictProba estimate the peak (EstimateMemory) before they allocate and return an
// error naming the estimate when it exceeds the memory limit (three quarters of physical
// memory; the environment variable KILN_MEMORY_LIMIT overrides it). Many test rows go
// through the model in several passes (testGroup), so they never make a prediction fail.
//
// The rotations need at least k members to show every class at every label; for
// multi-class tables an ensemble of at least the class count predicts better (on a 10-class
// table, 8 members clearly beat 4; measured in bench/results/tabpfn-2026-11-26.md), while the
// automatic size is set by a compute budget.
//
// # Pairs of classes
//
// With three to MaxClasses classes the classifier also fits one binary classifier per pair
// of classes, on the training rows of those two classes only, and averages the coupled
// pairwise distribution with the multi-class ensemble's (WithPairwise, AutoPairwise; see
// pairwise.go for why and what it gained).
//
// More classes than the model's MaxClasses (m): error-correcting output codes with an m-ary
// alphabet. Each member gets a balanced random codebook mapping the k classes onto the m
// labels (every label carries ⌊k/m⌋ or ⌈k/m⌉ classes); codebooks are added beyond Ensemble
// until every pair of classes is separated by at least two of them. A member's label
// probability is split among the classes it carries in proportion to their training counts,
// and members are combined by a normalised geometric mean, so that the winning class is the
// one every codebook finds likely. See outputCodes for the construction. The pairs of
// classes then refine that distribution where it is unsure: each test row's
// PairCandidates most likely classes are coupled from the binary classifiers of their
// pairs, which see only those rows (refinePairs).
//
// # Input
//
// X holds one row per example with NaN for a missing value; ±Inf is an error. Categorical
// features are ordinal codes, described by SetColumns (the evaluation protocol calls it).
// Labels lie in [0, nClasses); classes absent from the training labels get probability 0.
type Classifier struct {
	settings
	model     scorer
	cfg       Config
	modelDev  device.Device // where the model runs (nil for test scorers: the CPU)
	ownsModel *Model        // released by Close when the classifier loaded it

	columns  []data.Column
	fitted   bool
	nCols    int   // feature columns of the training matrix
	nClasses int   // the caller's class count
	classes  []int // compact class → caller's class
	codes    bool  // output codes (more classes than the model has outputs)
	members  []*member
	pairs    []classPair // the pairwise scheme's binary classifiers (see pairwise.go)
	local    *localClassifier
	stacked  *stackedClassifier // on small tables, local contexts mixed with one context
	warnings []string
}

type settings struct {
	dev         device.Device
	devName     string
	model       *Model
	modelPath   string
	ensemble    int
	temperature float64
	// temperatureSet says that WithTemperature chose the temperature.
	temperatureSet bool
	testBatch      int
	seed           uint64
	variants       []preprocess.Variant
	warn           io.Writer
	maxRows        int // per-member context limit (0: the model's)
	maxFeatures    int // per-member feature limit (0: the model's)
	pairMembers    int // members per pair of classes (0: no pairwise scheme; -1: AutoPairwise)
	// targetTransform is the regressor's target transform (WithTargetTransform; "" is the
	// default).
	targetTransform TargetTransform
	// featureSelection is how members choose their features beyond the limit.
	featureSelection FeatureSelection
	// oneHotLevels is the most categories a categorical column may have to be presented as
	// indicator columns (WithOneHot).
	oneHotLevels int
	// localRows is the size of the local contexts of a large training set (WithLocalContexts;
	// 0: none, -1: automatic).
	localRows int
	// progress, when set, hears how many rows a long prediction has done (WithProgress).
	progress func(done, total int)
}

// Option configures a Classifier.
type Option func(*settings) error

// WithDevice runs the model on dev (default: the CPU).
func WithDevice(dev device.Device) Option {
	return func(s *settings) error {
		if dev == nil {
			return errors.New("tabpfn: WithDevice(nil)")
		}
		s.dev = dev
		return nil
	}
}

// WithDeviceName runs the model on the named device ("cpu", "cuda", "cuda:1").
func WithDeviceName(name string) Option {
	return func(s *settings) error {
		s.devName = name
		return nil
	}
}

// WithModel uses an already loaded model (on its device); the caller keeps ownership, so one
// model can serve many classifiers.
func WithModel(m *Model) Option {
	return func(s *settings) error {
		if m == nil {
			return errors.New("tabpfn: WithModel(nil)")
		}
		s.model = m
		return nil
	}
}

// WithModelPath loads the model from a checkpoint file written by Model.Save.
func WithModelPath(path string) Option {
	return func(s *settings) error {
		if path == "" {
			return errors.New("tabpfn: WithModelPath needs a path")
		}
		s.modelPath = path
		return nil
	}
}

// WithEnsemble sets the number of ensemble members; 0 (the default) chooses it from the
// table's size with AutoEnsemble.
func WithEnsemble(n int) Option {
	return func(s *settings) error {
		if n < 0 {
			return fmt.Errorf("tabpfn: ensemble size must be at least 1 (or 0 for automatic), got %d", n)
		}
		s.ensemble = n
		return nil
	}
}

// WithTemperature sets the softmax temperature of the model's logits (default
// DefaultTemperature for a classifier, DefaultRegressionTemperature for a regressor).
func WithTemperature(t float64) Option {
	return func(s *settings) error {
		if !(t > 0) || math.IsInf(t, 0) {
			return fmt.Errorf("tabpfn: temperature must be positive and finite, got %v", t)
		}
		s.temperature, s.temperatureSet = t, true
		return nil
	}
}

// WithTestBatch sets the block size of the chunked forward pass in rows (default:
// DefaultChunkTokens divided by the features + 1, so that a block's memory is bounded
// whatever the table's width): a block of the attention across a row's tokens takes n rows,
// and one of the attention across rows as many tokens, n·(features+1). Rows do not interact
// in the first nor columns in the second, so the block size changes memory use and speed,
// not the results.
func WithTestBatch(n int) Option {
	return func(s *settings) error {
		if n < 1 {
			return fmt.Errorf("tabpfn: test batch must be at least 1 row, got %d", n)
		}
		s.testBatch = n
		return nil
	}
}

// WithSeed sets the seed of every random choice (subsamples, feature orders and subsets,
// categorical shuffles, feature embeddings, codebooks); the default is 0.
func WithSeed(seed uint64) Option {
	return func(s *settings) error {
		s.seed = seed
		return nil
	}
}

// DefaultVariants is the cycle of preprocessing variants the members go through: each
// Yeo–Johnson or standard view is followed by the same on principal axes, so that any two or
// more members mix raw and rotated columns (see preprocess.Config.PrincipalAxes), and the
// single member of a large binary table gets the power transform, which beats the standard
// one there (measured in bench/results/tabpfn-2026-11-27.md).
func DefaultVariants() []preprocess.Variant {
	return []preprocess.Variant{
		preprocess.VariantPower, preprocess.VariantPowerPCA,
		preprocess.VariantStandard, preprocess.VariantStandardPCA,
		preprocess.VariantQuantile, preprocess.VariantQuantilePCA,
		preprocess.VariantPowerShuffled, preprocess.VariantQuantileShuffled,
	}
}

// WithVariants sets the preprocessing variants the members cycle through (default:
// DefaultVariants).
func WithVariants(vs ...preprocess.Variant) Option {
	return func(s *settings) error {
		if len(vs) == 0 {
			return errors.New("tabpfn: WithVariants needs at least one variant")
		}
		for _, v := range vs {
			if v < 0 || int(v) >= len(preprocess.Variants()) {
				return fmt.Errorf("tabpfn: unknown preprocessing variant %d", int(v))
			}
		}
		s.variants = append([]preprocess.Variant(nil), vs...)
		return nil
	}
}

// The default per-member limits, and the largest WithMaxRows and WithMaxFeatures accept: the
// context sizes whose time and memory were measured (bench/results/tabpfn-scale-2026-12-03.md).
const (
	MaxContextRows     = 10_000
	MaxContextFeatures = 500
)

// warnWidth gives the warnings of an ensemble of a model of config cfg fitted on a table of
// widest features after preprocessing, of which each member presents at most maxFeatures,
// chosen as fs says: a subset per member, and a model presenting more than it was trained on.
func warnWidth(warnf func(string, ...any), cfg Config, fs FeatureSelection, widest, maxFeatures int) {
	if widest > maxFeatures {
		warnf("%d features after preprocessing exceed the limit of %d: each ensemble member uses its own %s",
			widest, maxFeatures, fs.subsetWords(maxFeatures))
	}
	if n, w := min(widest, maxFeatures), cfg.trainedWidth(); n > w {
		warnf("each ensemble member presents %d features, above the %d the model was trained on: it extrapolates", n, w)
	}
}

// DefaultMemberFeatures is the number of features an ensemble member of a model of config
// cfg presents unless WithMaxFeatures says otherwise: the widest tables the model was
// trained on (Config.TrainedFeatures, at most MaxContextFeatures) where the model records
// them, and otherwise MaxContextFeatures (the model's MaxFeatures where larger). A wider
// table is seen through a subset per member, chosen as WithFeatureSelection says. Beyond
// its training width the model extrapolates, and on wide real tables that no training
// used, relevance-chosen subsets of the training width scored better than every feature
// (bench/results/tabpfn-trained-width-2026-12-03.md).
func DefaultMemberFeatures(cfg Config) int {
	if cfg.TrainedFeatures > 0 {
		return min(cfg.TrainedFeatures, MaxContextFeatures)
	}
	return max(cfg.MaxFeatures, MaxContextFeatures)
}

// WithMaxRows sets each member's training rows (its context) to at most n, 2 to
// MaxContextRows; 0 (the default) means MaxContextRows, or the model's MaxRows if larger.
// Larger tables are seen through a stratified subsample of n rows per member. At or below
// the model's MaxRows, contexts are faster and nearer the sizes the model saw most; above
// it, the model extrapolates, and time grows with the square of n.
func WithMaxRows(n int) Option {
	return func(s *settings) error {
		if n < 0 || n == 1 || n > MaxContextRows {
			return fmt.Errorf("tabpfn: max rows must be from 2 to %d (or 0 for the default), got %d", MaxContextRows, n)
		}
		s.maxRows = n
		return nil
	}
}

// WithLocalContexts sets how a training set of more rows than the model was trained on
// (Config.MaxRows) is seen, by a classifier or a regressor. With n ≥ 2, each test row is
// predicted from a context of its own, the n training rows nearest it, fitted as a training
// set of n rows would be, without the pairwise scheme unless WithPairwise asks for it (see
// local.go). With 0, every member's context is the whole training set (up to WithMaxRows,
// a stratified subsample per member beyond it, random for a regressor). -1, the default,
// means DefaultLocalRows for a classifier above the model's context. A regressor there, and
// either within the model's context (a regressor from twice DefaultLocalRows training rows
// on, a classifier from four times as many), chooses among DefaultLocalRows, four times as
// many and the whole training set on held-out training rows (see local.go). Under -1, a
// WithMaxRows above the model's context keeps whole contexts of that size.
func WithLocalContexts(n int) Option {
	return func(s *settings) error {
		if n < -1 || n == 1 || n > MaxContextRows {
			return fmt.Errorf("tabpfn: local context rows must be from 2 to %d (or 0 for none, -1 for automatic), got %d", MaxContextRows, n)
		}
		s.localRows = n
		return nil
	}
}

// WithProgress has fn told, one call at a time, how many of a prediction's rows are done
// when the rows are predicted one by one (local contexts, WithLocalContexts), which on a
// CPU can take minutes: after every row, from the goroutine that finished it.
func WithProgress(fn func(done, total int)) Option {
	return func(s *settings) error {
		s.progress = fn
		return nil
	}
}

// WithMaxFeatures sets the features each member presents to at most n, 1 to
// MaxContextFeatures; 0 (the default) means DefaultMemberFeatures of the model. Wider
// tables are seen through a subset of n features per member, chosen as
// WithFeatureSelection says.
func WithMaxFeatures(n int) Option {
	return func(s *settings) error {
		if n < 0 || n > MaxContextFeatures {
			return fmt.Errorf("tabpfn: max features must be from 1 to %d (or 0 for the default), got %d", MaxContextFeatures, n)
		}
		s.maxFeatures = n
		return nil
	}
}

// DefaultOneHotLevels is WithOneHot's default: a categorical column of 3 to 16 categories,
// at most a quarter of the 64 features a member of either embedded model presents.
const DefaultOneHotLevels = 16

// WithOneHot sets how every other member (the second, fourth, ... of an ensemble, and so the
// second of each pair's two) presents a categorical column of 3 to levels categories in its
// training rows: as one indicator column per category (see preprocess.Config.OneHotLevels).
// The other members present its code, as every member does for two categories.
// Codes keep an order the category names carry (grades A–E) in one column; indicators single
// out a category that matters among others that do not, which a code puts between them.
// Neither wins on every table (bench/results/unseen-2026-12-04.md), so the ensemble has both.
// For a regressor and a two-class classifier, the same members present a column of more
// categories by its category's mean target, out of fold for the training rows (see
// preprocess.Config.TargetStatistics): one indicator per category would crowd the member's
// features. The other members give it the mean target beside its code
// (preprocess.Config.CodeStatistics), as the code alone orders many categories in a way
// that says nothing of the target. A numeric column that is the key of groups of rows
// (many repeated values that determine another column, such as a school's identifier
// stored as a number) gets its value's mean target beside the number
// (preprocess.Config.KeyStatistics). A regressor's members of codes have every statistic
// its members of indicators have, and a categorical column of 3 or more categories its mean
// target beside its code (see memberStatistics). 0 presents every categorical column as its
// code in every member, and no mean targets; the default is DefaultOneHotLevels.
func WithOneHot(levels int) Option {
	return func(s *settings) error {
		if levels < 0 || levels > MaxContextFeatures {
			return fmt.Errorf("tabpfn: one-hot levels must be from 0 to %d, got %d", MaxContextFeatures, levels)
		}
		s.oneHotLevels = levels
		return nil
	}
}

// WithWarnings also writes each warning (see Classifier.Warnings) to w as it happens.
func WithWarnings(w io.Writer) Option {
	return func(s *settings) error {
		s.warn = w
		return nil
	}
}

func applyOptions(opts []Option) (settings, error) {
	s := settings{ensemble: 0, temperature: DefaultTemperature, variants: DefaultVariants(), pairMembers: -1,
		featureSelection: DefaultFeatureSelection, oneHotLevels: DefaultOneHotLevels, localRows: -1}
	for _, o := range opts {
		if err := o(&s); err != nil {
			return s, err
		}
	}
	return s, nil
}

// NewClassifier returns an unfitted classifier. Without WithModel or WithModelPath it uses
// the model embedded in kiln (DefaultModel).
func NewClassifier(opts ...Option) (*Classifier, error) {
	s, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	if s.targetTransform != "" {
		return nil, errors.New("tabpfn: WithTargetTransform is an option of the regressor")
	}
	m, owned, err := s.loadModel(DefaultModel)
	if err != nil {
		return nil, err
	}
	if m.Cfg.Regression() {
		if owned {
			m.Release()
		}
		return nil, errors.New("tabpfn: the model is a regression model: use NewRegressor")
	}
	c := &Classifier{settings: s, model: chunkedScorer{m: m, chunkRows: s.testBatch}, cfg: m.Cfg, modelDev: m.Dev}
	if owned {
		c.ownsModel = m
	}
	return c, nil
}

// loadModel resolves the settings' device and model: WithModel's model, which the caller
// keeps (owned false), or one loaded onto the device (the CPU unless WithDevice or
// WithDeviceName) from WithModelPath or else by embedded, which the caller must release.
func (s *settings) loadModel(embedded func(device.Device) (*Model, error)) (m *Model, owned bool, err error) {
	if s.model != nil && s.modelPath != "" {
		return nil, false, errors.New("tabpfn: give WithModel or WithModelPath, not both")
	}
	if s.devName != "" {
		if s.dev != nil {
			return nil, false, errors.New("tabpfn: give WithDevice or WithDeviceName, not both")
		}
		dev, err := device.Get(s.devName)
		if err != nil {
			return nil, false, err
		}
		s.dev = dev
	}
	switch {
	case s.model != nil:
		if s.dev != nil && s.dev != s.model.Dev && s.dev.Name() != s.model.Dev.Name() {
			return nil, false, fmt.Errorf("tabpfn: the model is on %s but device %s was asked for", s.model.Dev.Name(), s.dev.Name())
		}
		return s.model, false, nil
	case s.dev == nil:
		dev, err := device.Get("cpu")
		if err != nil {
			return nil, false, err
		}
		s.dev = dev
	}
	if s.modelPath != "" {
		m, err = Load(s.dev, s.modelPath)
	} else {
		m, err = embedded(s.dev)
	}
	return m, err == nil, err
}

// newWithScorer builds a classifier around any scorer (tests).
func newWithScorer(sc scorer, cfg Config, opts ...Option) (*Classifier, error) {
	s, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Classifier{settings: s, model: sc, cfg: cfg}, nil
}

// Close releases the model if the classifier loaded it (WithModelPath or the default model).
func (c *Classifier) Close() {
	if c.ownsModel != nil {
		c.ownsModel.Release()
		c.ownsModel = nil
	}
}

// Config returns the model's configuration.
func (c *Classifier) Config() Config { return c.cfg }

// limits returns the most rows and features one member presents: those of WithMaxRows and
// WithMaxFeatures, or MaxContextRows (the model's MaxRows where larger) and
// DefaultMemberFeatures.
func (c *Classifier) limits() (rows, features int) { return limits(c.cfg, c.settings) }

// limits returns the most rows and features one member of a model of config cfg presents:
// the settings' WithMaxRows and WithMaxFeatures, or MaxContextRows (the model's MaxRows
// where larger) and DefaultMemberFeatures(cfg).
func limits(cfg Config, s settings) (rows, features int) {
	rows, features = max(cfg.MaxRows, MaxContextRows), DefaultMemberFeatures(cfg)
	if s.maxRows > 0 {
		rows = s.maxRows
	}
	if s.maxFeatures > 0 {
		features = s.maxFeatures
	}
	return rows, features
}

// AutoEnsemble is the ensemble size chosen for rows training rows of features features and
// classes classes: EnsembleCellBudget / (rows·(features+1)) members, at least 1 and at most
// DefaultEnsemble. With three or more classes it is at least min(classes, DefaultEnsemble):
// the model is not invariant to which label a class gets, and one member's fixed labelling
// biases the cross-class ranking that multi-class ROC AUC and log loss read, which the class
// rotations of several members average out (Hollmann et al. 2023, section 4); one member
// instead of four costs most on the tables with the most classes (measured in
// bench/results/tabpfn-2026-11-27.md). Two classes keep the size budget, which holds the
// 1000×20 benchmark to one member.
func AutoEnsemble(rows, features, classes int) int {
	n := max(1, min(DefaultEnsemble, EnsembleCellBudget/max(1, rows*(features+1))))
	if classes >= 3 {
		n = max(n, min(classes, DefaultEnsemble))
	}
	return n
}

// child returns an unfitted classifier for a part of c's work (a pair of classes, a row's
// local context): c's model, settings and column kinds with the given seed, whole contexts,
// and no warnings or progress of its own.
func (c *Classifier) child(seed uint64) *Classifier {
	ch := &Classifier{settings: c.settings, model: c.model, cfg: c.cfg, modelDev: c.modelDev, columns: c.columns}
	ch.seed, ch.localRows, ch.warn, ch.progress = seed, 0, nil, nil
	return ch
}

// Ensemble returns the number of members Fit built (more than the ensemble size when output
// codes needed extra codebooks); before Fit, or after a Fit that kept the training set for
// local contexts (each test row's ensemble is built as it is predicted), the configured
// ensemble size (0: automatic).
func (c *Classifier) Ensemble() int {
	if c.fitted && c.local == nil && c.stacked == nil {
		return len(c.members)
	}
	return c.ensemble
}

// Pairs returns the number of binary classifiers (one per pair of classes) Fit built for the
// pairwise scheme, each with its own members; 0 before Fit or with the scheme off.
func (c *Classifier) Pairs() int { return len(c.pairs) }

// Warnings returns what Fit changed about the data to fit the model (row or feature
// subsampling, output codes), one sentence each.
func (c *Classifier) Warnings() []string { return append([]string(nil), c.warnings...) }

func (c *Classifier) warnf(format string, args ...any) {
	c.warnings = appendWarning(c.warnings, c.warn, format, args...)
}

// appendWarning appends a warning to list and, when w is not nil, writes it to w.
func appendWarning(list []string, w io.Writer, format string, args ...any) []string {
	msg := fmt.Sprintf(format, args...)
	if w != nil {
		fmt.Fprintln(w, "tabpfn: warning:", msg)
	}
	return append(list, msg)
}

// SetColumns describes the feature columns (names, which are categorical, their categories),
// so that preprocessing treats categorical codes as categories. Call it before Fit; nil means
// every column is numeric.
func (c *Classifier) SetColumns(cols []data.Column) {
	c.columns = append([]data.Column(nil), cols...)
}

// checkMatrix validates a feature matrix: consistent size, no infinities (NaN is missing).
func checkMatrix(what string, X data.Matrix) error {
	if X.Rows < 1 || X.Cols < 1 {
		return fmt.Errorf("tabpfn: %s: empty matrix (%d rows, %d columns)", what, X.Rows, X.Cols)
	}
	if len(X.Data) != X.Rows*X.Cols {
		return fmt.Errorf("tabpfn: %s: matrix is %dx%d but holds %d values", what, X.Rows, X.Cols, len(X.Data))
	}
	for i, v := range X.Data {
		if math.IsInf(v, 0) {
			return fmt.Errorf("tabpfn: %s: row %d, column %d is %v; only finite values or NaN (missing) are allowed",
				what, i/X.Cols, i%X.Cols, v)
		}
	}
	return nil
}

// Fit validates the training rows and prepares the ensemble members' contexts. It takes no
// gradient step. nClasses may exceed the classes present in y; absent classes get
// probability 0 at prediction.
func (c *Classifier) Fit(X data.Matrix, y []int, nClasses int) (err error) {
	defer recoverTo(&err)
	c.fitted, c.members, c.pairs, c.local, c.stacked, c.warnings = false, nil, nil, nil, nil, nil
	if err := checkMatrix("Fit", X); err != nil {
		return err
	}
	if len(y) != X.Rows {
		return fmt.Errorf("tabpfn: Fit: %d labels for %d rows", len(y), X.Rows)
	}
	if nClasses < 2 {
		return fmt.Errorf("tabpfn: Fit: need at least 2 classes, got nClasses = %d", nClasses)
	}
	if c.columns != nil && len(c.columns) != X.Cols {
		return fmt.Errorf("tabpfn: Fit: SetColumns described %d columns but X has %d", len(c.columns), X.Cols)
	}
	count := make([]int, nClasses)
	for i, v := range y {
		if v < 0 || v >= nClasses {
			return fmt.Errorf("tabpfn: Fit: label %d of row %d is outside [0, %d)", v, i, nClasses)
		}
		count[v]++
	}
	// Compact the classes present in y to 0..k−1: the model only knows classes it sees in
	// the context.
	compact := make([]int, nClasses)
	c.classes = c.classes[:0]
	for cl, n := range count {
		compact[cl] = -1
		if n > 0 {
			compact[cl] = len(c.classes)
			c.classes = append(c.classes, cl)
		}
	}
	k := len(c.classes)
	if k < 2 {
		return fmt.Errorf("tabpfn: Fit: every training label is class %d; need at least two classes", c.classes[0])
	}
	yc := make([]int, len(y))
	for i, v := range y {
		yc[i] = compact[v]
	}
	c.nCols, c.nClasses = X.Cols, nClasses
	rows := c.localContextRows(c.cfg)
	large := X.Rows > max(rows, c.cfg.MaxRows)
	if rows > 0 && (large || c.localRows < 0 && X.Rows >= smallChoiceMinRows) {
		var choice string
		switch {
		case !large && X.Rows < classifierChoiceMinRows:
			if c.stacked, err = c.fitStacked(X, y, nClasses); err != nil {
				return err
			}
			if c.stacked != nil {
				c.fitted = true
				return nil
			}
			rows = 0
		case !large:
			if rows, choice, err = c.chooseContextRows(X, y, nClasses); err != nil {
				return err
			}
		case c.localRows < 0:
			if d := distinctRows(X); d <= rows {
				c.warnf("the %d training rows hold %d distinct rows, too few for local contexts of %d: one context of them all", X.Rows, d, rows)
				rows = 0
			}
		}
		if rows > 0 {
			c.local = c.fitLocal(X, y, rows, choice)
			c.fitted = true
			return nil
		}
	}

	maxRows, maxFeatures := c.limits()
	// The context alone must fit before preprocessing allocates; PredictProba checks again
	// with the presented features and the test rows.
	if err := checkMemory(c.cfg, c.modelDev, min(X.Rows, maxRows), min(X.Cols, maxFeatures), 1); err != nil {
		return err
	}
	if X.Rows > maxRows {
		c.warnf("%d training rows exceed the context of %d: each ensemble member uses its own stratified subsample of %d rows",
			X.Rows, maxRows, maxRows)
	}
	if n := min(X.Rows, maxRows); n > c.cfg.MaxRows {
		c.warnf("each ensemble member's context of %d training rows is above the %d the model was trained on: it extrapolates",
			n, c.cfg.MaxRows)
	}
	ensemble := c.ensemble
	m := c.cfg.MaxClasses
	if ensemble == 0 {
		ensemble = AutoEnsemble(min(X.Rows, maxRows), min(X.Cols, maxFeatures), k)
		if k > m {
			ensemble = max(ensemble, DefaultCodebooks)
		}
	}
	c.codes = k > m
	var codes [][]int
	if c.codes {
		rng := data.NewRand(mix(c.seed, 0, streamCodes), 0)
		codes = outputCodes(k, m, ensemble, rng)
		c.warnf("%d classes exceed the model's %d: using %d error-correcting output codes over %d labels", k, m, len(codes), m)
	}
	n := ensemble
	if c.codes {
		n = len(codes)
	}
	widest := 0
	for i := 0; i < n; i++ {
		code, labels := rotationCode(k, rotationOffset(i, n, k)), k
		if c.codes {
			code, labels = codes[i], m
		}
		mb, err := c.buildMember(i, X, yc, k, code, labels)
		if err != nil {
			return err
		}
		widest = max(widest, mb.pre.OutputCols())
		c.members = append(c.members, mb)
	}
	warnWidth(c.warnf, c.cfg, c.featureSelection, widest, maxFeatures)
	perPair := c.pairMembers
	switch {
	case perPair >= 0:
	case c.codes && k <= MaxPrunedPairClasses:
		perPair = DefaultPairMembers // pairs of candidates only: see refinePairs
	case c.codes:
		perPair = 0
	default:
		perPair = AutoPairwise(min(X.Rows, maxRows), min(X.Cols, maxFeatures), k)
	}
	if perPair > 0 && k >= 3 {
		if err := c.fitPairs(X, yc, k, perPair); err != nil {
			return err
		}
	}
	c.fitted = true
	return nil
}

// PredictProba returns an X.Rows × nClasses matrix of class probabilities.
func (c *Classifier) PredictProba(X data.Matrix) (out data.Matrix, err error) {
	defer recoverTo(&err)
	if !c.fitted {
		return data.Matrix{}, errors.New("tabpfn: PredictProba called before Fit")
	}
	if err := checkMatrix("PredictProba", X); err != nil {
		return data.Matrix{}, err
	}
	if X.Cols != c.nCols {
		return data.Matrix{}, fmt.Errorf("tabpfn: PredictProba: X has %d columns but the classifier was fitted on %d", X.Cols, c.nCols)
	}
	if c.local != nil {
		return c.local.predictProba(X, c.nClasses)
	}
	if c.stacked != nil {
		return c.stacked.predictProba(X, c.nClasses)
	}
	k := len(c.classes)
	per := make([][]float64, len(c.members))
	for i, m := range c.members {
		if per[i], err = c.predictMember(m, X, k); err != nil {
			return data.Matrix{}, fmt.Errorf("tabpfn: ensemble member %d (%s): %w", i, m.variant, err)
		}
	}
	var p []float64
	if c.codes {
		p = poolLog(per, X.Rows, k)
	} else {
		p = poolMean(per)
	}
	if len(c.pairs) > 0 && c.codes {
		if p, err = c.refinePairs(X, p, k); err != nil {
			return data.Matrix{}, err
		}
	} else if len(c.pairs) > 0 {
		pp, err := c.predictPairs(X, k)
		if err != nil {
			return data.Matrix{}, err
		}
		for i := range p {
			p[i] = (1-PairwiseWeight)*p[i] + PairwiseWeight*pp[i]
		}
	}
	out = data.NewMatrix(X.Rows, c.nClasses)
	for r := 0; r < X.Rows; r++ {
		for j, cl := range c.classes {
			out.Data[r*c.nClasses+cl] = p[r*k+j]
		}
	}
	return out, nil
}

// Predict returns the most probable class of each row (ties: the lower class index).
func (c *Classifier) Predict(X data.Matrix) ([]int, error) {
	p, err := c.PredictProba(X)
	if err != nil {
		return nil, err
	}
	return metrics.Argmax(p), nil
}

// recoverTo, deferred by the Classifier's public methods, turns a panic of kiln's inner
// layers (an op rejecting a shape, a device error) into the method's error. The policy is
// tensor.Catch's: a runtime fault or a panic that is not an error is a bug in kiln and is
// re-raised with its stack trace.
func recoverTo(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("tabpfn: %w", tensor.Recovered(r))
	}
}
