// Command foundation measures what the tabular foundation-model features add on the shared
// evaluation protocol (package metrics): fine-tuning (tabpfn.FineTune) against the model as
// it is, and logistic regression on TabPFN's row embeddings (tabpfn.Classifier.Embed)
// against logistic regression on the raw features. Each is run through
// metrics.Protocol.Evaluate as a classifier, so splits, caps and scores are the protocol's.
//
//	go run ./bench/foundation -mode finetune -splits 2 ../shared/data/tabular/pima_diabetes.csv
//	go run ./bench/foundation -mode embed -splits 2 ../shared/data/tabular
//	go run ./bench/foundation -mode corpusloss -corpus ../shared/data/corpus a.safetensors b.safetensors
//	go run ./bench/foundation -mode auxloss -corpus ../shared/data/corpus run.safetensors
//
// corpusloss scores models (the embedded one, then each file given) on column-as-target
// tasks of the corpus tables tabpfn.HeldOutCorpusLoss holds out (every -holdout-th).
// auxloss scores training checkpoints with masked-cell or contrastive heads
// (Trainer.HeldOutAuxLoss) on those tables, each with its own run's settings and the tasks
// of seed 1, then the embedded model with freshly initialised heads.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu" // the pure-Go backend
	"github.com/kiln-ml/kiln/metrics"
	"github.com/kiln-ml/kiln/models/linear"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

func main() {
	mode := flag.String("mode", "embed", "finetune, embed, corpusloss or auxloss")
	splits := flag.Int("splits", 2, "protocol splits (seeds 0..N-1)")
	steps := flag.Int("steps", 30, "finetune: most steps")
	lr := flag.Float64("lr", 1e-5, "finetune: learning rate")
	maxClasses := flag.Int("max-classes", 10, "skip tables with more classes")
	folds := flag.Int("folds", 5, "embed: folds for the training rows' out-of-fold embeddings")
	corpusDir := flag.String("corpus", "", "corpusloss: the corpus folder")
	holdout := flag.Int("holdout", 5, "corpusloss: every n-th table is scored")
	batches := flag.Int("batches", 50, "corpusloss, auxloss: batches of 8 tasks")
	temperature := flag.Float64("temperature", 0, "auxloss: InfoNCE temperature of the untrained-heads baseline (0: the default)")
	flag.Parse()
	model, err := tabpfn.DefaultModel(device.MustGet("cpu"))
	if err != nil {
		fail(err)
	}
	if *mode == "corpusloss" {
		tc := tabpfn.DefaultTrainConfig()
		tc.Corpus = &tabpfn.CorpusConfig{Dir: *corpusDir, Fraction: 1, Tasks: []string{"column"}, HoldoutEvery: *holdout}
		out := map[string]float64{}
		for _, path := range append([]string{""}, flag.Args()...) {
			m, name := model, "embedded"
			if path != "" {
				if m, err = tabpfn.Load(device.MustGet("cpu"), path); err != nil {
					fail(err)
				}
				name = filepath.Base(path)
			}
			l, err := tabpfn.HeldOutCorpusLoss(m, tc, *batches)
			if err != nil {
				fail(err)
			}
			fmt.Fprintf(os.Stderr, "%s: corpus-task loss %.4f\n", name, l)
			out[name] = l
		}
		json.NewEncoder(os.Stdout).Encode(out)
		return
	}
	if *mode == "auxloss" {
		// The training checkpoints given, then the embedded model with fresh heads: the
		// masked-cell and contrastive losses on the held-out tables.
		tc := tabpfn.DefaultTrainConfig()
		tc.Corpus = &tabpfn.CorpusConfig{Dir: *corpusDir, Fraction: 1, Tasks: []string{"column", "masked", "contrastive"},
			HoldoutEvery: *holdout, Temperature: *temperature}
		out := map[string][2]float64{}
		for _, path := range append(flag.Args(), "") {
			var tr *tabpfn.Trainer
			name := "embedded, untrained heads"
			if path == "" {
				tr, err = tabpfn.NewTrainerFrom(model, tc, "")
			} else {
				tr, err = tabpfn.Resume(device.MustGet("cpu"), path, 0)
				name = filepath.Base(path)
			}
			if err != nil {
				fail(err)
			}
			m, c, err := tr.HeldOutAuxLoss(*batches, tc.Seed)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
				continue
			}
			fmt.Fprintf(os.Stderr, "%s: masked-cell loss %.4f, contrastive loss %.4f\n", name, m, c)
			out[name] = [2]float64{m, c}
		}
		json.NewEncoder(os.Stdout).Encode(out)
		return
	}
	var paths []string
	for _, a := range flag.Args() {
		if st, err := os.Stat(a); err == nil && st.IsDir() {
			ps, _ := filepath.Glob(filepath.Join(a, "*.csv"))
			paths = append(paths, ps...)
		} else {
			paths = append(paths, a)
		}
	}
	p := metrics.DefaultProtocol()
	p.Splits = *splits
	type row struct {
		Dataset string             `json:"dataset"`
		Scores  map[string]float64 `json:"auc"`
		Notes   []string           `json:"notes,omitempty"`
	}
	var rows []row
	for _, path := range paths {
		t, err := data.Load(path, data.Options{})
		if err != nil {
			fail(err)
		}
		if t.NumClasses() > *maxClasses {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(path), ".csv")
		r := row{Dataset: name, Scores: map[string]float64{}}
		start := time.Now()
		arms := map[string]func() metrics.Classifier{}
		switch *mode {
		case "finetune":
			cfg := tabpfn.DefaultFineTuneConfig()
			cfg.Steps, cfg.LR = *steps, *lr
			arms["tabpfn"] = func() metrics.Classifier { return &fineTuned{model: model} }
			arms["finetuned"] = func() metrics.Classifier { return &fineTuned{model: model, cfg: &cfg, notes: &r.Notes} }
		case "embed":
			arms["lr_raw"] = func() metrics.Classifier { return linear.NewLogisticRegression() }
			arms["lr_embed"] = func() metrics.Classifier { return &embedLR{model: model, folds: *folds} }
		default:
			fail(fmt.Errorf("unknown mode %q", *mode))
		}
		for arm, mk := range arms {
			res, err := p.Evaluate(context.Background(), t, mk)
			if err != nil {
				fail(fmt.Errorf("%s %s: %w", name, arm, err))
			}
			r.Scores[arm] = res.AUC
		}
		fmt.Fprintf(os.Stderr, "%s: %v (%s) %v\n", name, r.Scores, time.Since(start).Round(time.Second), r.Notes)
		rows = append(rows, r)
	}
	json.NewEncoder(os.Stdout).Encode(rows)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// fineTuned fits a default classifier on a fine-tuned copy of the model (cfg set) or on the
// model itself (cfg nil).
type fineTuned struct {
	model *tabpfn.Model
	cfg   *tabpfn.FineTuneConfig
	notes *[]string
	cols  []data.Column
	clf   *tabpfn.Classifier
	ft    *tabpfn.Model
}

func (f *fineTuned) SetColumns(cols []data.Column) { f.cols = cols }

func (f *fineTuned) Fit(X data.Matrix, y []int, k int) error {
	m := f.model
	if f.cfg != nil {
		cfg := *f.cfg
		cfg.Columns = f.cols
		ft, res, err := tabpfn.FineTune(context.Background(), m, X, y, k, cfg)
		if err != nil {
			return err
		}
		*f.notes = append(*f.notes, fmt.Sprintf("held-out log loss %.4f→%.4f at step %d/%d", res.StartLoss, res.BestLoss, res.BestStep, res.Steps))
		f.ft, m = ft, ft
	}
	c, err := tabpfn.NewClassifier(tabpfn.WithModel(m))
	if err != nil {
		return err
	}
	c.SetColumns(f.cols)
	f.clf = c
	return c.Fit(X, y, k)
}

func (f *fineTuned) PredictProba(X data.Matrix) (data.Matrix, error) {
	p, err := f.clf.PredictProba(X)
	if f.ft != nil {
		f.ft.Release()
		f.ft = nil
	}
	return p, err
}

// embedLR is logistic regression on TabPFN embeddings (one member, 128 values a row). The
// training rows are embedded out of fold (each fold against a context of the other folds,
// so no row sees its own label); test rows against all training rows.
type embedLR struct {
	model *tabpfn.Model
	folds int
	cols  []data.Column
	ctx   *tabpfn.Classifier
	lr    *linear.LogisticRegression
}

func (e *embedLR) SetColumns(cols []data.Column) { e.cols = cols }

func (e *embedLR) newClf(X data.Matrix, y []int, k int) (*tabpfn.Classifier, error) {
	c, err := tabpfn.NewClassifier(tabpfn.WithModel(e.model), tabpfn.WithEnsemble(1), tabpfn.WithPairwise(0))
	if err != nil {
		return nil, err
	}
	c.SetColumns(e.cols)
	return c, c.Fit(X, y, k)
}

func (e *embedLR) Fit(X data.Matrix, y []int, k int) error {
	var emb data.Matrix
	for f := 0; f < e.folds; f++ {
		var in, out []int
		for i := range y {
			if i%e.folds == f {
				out = append(out, i)
			} else {
				in = append(in, i)
			}
		}
		yin := make([]int, len(in))
		for j, i := range in {
			yin[j] = y[i]
		}
		c, err := e.newClf(X.SelectRows(in), yin, k)
		if err != nil {
			return err
		}
		v, err := c.Embed(X.SelectRows(out))
		if err != nil {
			return err
		}
		if emb.Data == nil {
			emb = data.NewMatrix(X.Rows, v.Cols)
		}
		for j, i := range out {
			copy(emb.Row(i), v.Row(j))
		}
	}
	var err error
	if e.ctx, err = e.newClf(X, y, k); err != nil {
		return err
	}
	e.lr = linear.NewLogisticRegression()
	return e.lr.Fit(emb, y, k)
}

func (e *embedLR) PredictProba(X data.Matrix) (data.Matrix, error) {
	v, err := e.ctx.Embed(X)
	if err != nil {
		return data.Matrix{}, err
	}
	return e.lr.PredictProba(v)
}
