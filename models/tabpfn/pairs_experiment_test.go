package tabpfn

import (
	"encoding/gob"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/metrics"
)

// TestPrunedPairsExperiment runs the evaluation protocol's splits on the table named by
// KILN_PAIRS_TABLE (a many-class table such as the shared letter.csv) and scores, on the
// same fitted classifiers and forward passes, the pooled output codes alone and the pooled
// codes refined by the pairs of candidate classes for several candidate counts
// and scales of the other classes (combinePairs on the answers about the pairs among
// KILN_PAIRS_ASK candidates, default 8, which hold those among fewer). With KILN_PAIRS_CACHE naming a folder, each split's pooled
// distribution and pair answers are kept there and read back instead of recomputed. It
// writes one JSON line per split and setting to KILN_PAIRS_OUT (default stdout).
// KILN_PAIRS_SPLITS limits the splits and KILN_PAIRS_FIRST skips the first ones;
// KILN_PAIRS_ENSEMBLE sets the codebooks (at least).
// Without KILN_PAIRS_TABLE it is skipped.
func TestPrunedPairsExperiment(t *testing.T) {
	path := os.Getenv("KILN_PAIRS_TABLE")
	if path == "" {
		t.Skip("KILN_PAIRS_TABLE not set")
	}
	out := os.Stdout
	if p := os.Getenv("KILN_PAIRS_OUT"); p != "" {
		f, err := os.Create(p)
		require.NoError(t, err)
		defer f.Close()
		out = f
	}
	proto := metrics.DefaultProtocol()
	if s := os.Getenv("KILN_PAIRS_SPLITS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		proto.Splits = n
	}
	ask := 8
	if s := os.Getenv("KILN_PAIRS_ASK"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		ask = n
	}
	ens := 0 // the classifier's automatic size
	if s := os.Getenv("KILN_PAIRS_ENSEMBLE"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		ens = n
	}
	cache := os.Getenv("KILN_PAIRS_CACHE")
	tab, err := data.Load(path, data.Options{})
	require.NoError(t, err)
	tab, _ = tab.DropRareClasses(proto.MinClassRows)
	k := tab.NumClasses()
	dev, err := device.Get("cpu")
	require.NoError(t, err)
	m, err := DefaultModel(dev)
	require.NoError(t, err)
	defer m.Release()
	capRows := func(t2 *data.Table, limit int, seed uint64) *data.Table {
		if t2.Rows() <= limit {
			return t2
		}
		idx, err := data.StratifiedSubsample(t2.Y, t2.NumClasses(), limit, seed)
		require.NoError(t, err)
		return t2.Subset(idx)
	}
	enc := json.NewEncoder(out)
	first := 0
	if s := os.Getenv("KILN_PAIRS_FIRST"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		first = n
	}
	for s := first; s < proto.Splits; s++ {
		seed := uint64(s)
		trIdx, teIdx, err := data.StratifiedSplit(tab.Y, k, proto.TestFraction, seed)
		require.NoError(t, err)
		train, test := capRows(tab.Subset(trIdx), proto.TrainCap, seed), capRows(tab.Subset(teIdx), proto.TestCap, seed)
		var sp pairsSplit
		file := filepath.Join(cache, fmt.Sprintf("split-%d-ask%d.gob", s, ask))
		if ens > 0 {
			file = filepath.Join(cache, fmt.Sprintf("split-%d-ask%d-ensemble%d.gob", s, ask, ens))
		}
		if f, err := os.Open(file); cache != "" && err == nil {
			require.NoError(t, gob.NewDecoder(f).Decode(&sp))
			f.Close()
		} else {
			c, err := NewClassifier(WithModel(m), WithEnsemble(ens))
			require.NoError(t, err)
			c.SetColumns(train.Columns)
			t0 := time.Now()
			require.NoError(t, c.Fit(train.X, train.Y, k))
			require.True(t, c.codes, "the table must have more classes than the model's outputs")
			t1 := time.Now()
			kc := len(c.classes)
			per := make([][]float64, len(c.members))
			for i, mb := range c.members {
				per[i], err = c.predictMember(mb, test.X, kc)
				require.NoError(t, err)
			}
			pool := poolLog(per, test.X.Rows, kc)
			t2 := time.Now()
			cands, ans, err := c.askPairs(test.X, pool, kc, ask)
			require.NoError(t, err)
			t3 := time.Now()
			sp = pairsSplit{Classes: c.classes, Pool: pool, Cands: cands, Ans: ans, Codebooks: len(c.members), Pairs: len(c.pairs),
				FitSec: t1.Sub(t0).Seconds(), CodesSec: t2.Sub(t1).Seconds(), PairsSec: t3.Sub(t2).Seconds()}
			if cache != "" {
				f, err := os.Create(file)
				require.NoError(t, err)
				require.NoError(t, gob.NewEncoder(f).Encode(sp))
				require.NoError(t, f.Close())
			}
		}
		kc := len(sp.Classes)
		// recall[n]: share of rows whose true class is among their n first candidates.
		recall := make([]float64, ask+1)
		for r, cand := range sp.Cands {
			for n := 1; n <= ask; n++ {
				if slices.Contains(sp.Classes, test.Y[r]) && slices.Index(cand[:min(n, len(cand))], slices.Index(sp.Classes, test.Y[r])) >= 0 {
					recall[n] += 1 / float64(len(sp.Cands))
				}
			}
		}
		score := func(name string, n int, w float64, p []float64) {
			pm := data.NewMatrix(test.X.Rows, k)
			for r := 0; r < test.X.Rows; r++ {
				for j, cl := range sp.Classes {
					pm.Data[r*k+cl] = p[r*kc+j]
				}
			}
			auc, err := metrics.ROCAUC(test.Y, pm)
			require.NoError(t, err)
			acc, err := metrics.Accuracy(test.Y, pm)
			require.NoError(t, err)
			ll, err := metrics.LogLoss(test.Y, pm)
			require.NoError(t, err)
			rec := 0.0
			if n > 0 {
				rec = recall[min(n, ask)]
			}
			require.NoError(t, enc.Encode(map[string]any{"split": s, "scheme": name, "candidates": n, "outside": w,
				"auc": auc, "acc": acc, "logloss": ll, "recall": rec, "fit_s": sp.FitSec, "codes_s": sp.CodesSec,
				"pairs_asked": ask, "pairs_s": sp.PairsSec, "codebooks": sp.Codebooks, "pairs": sp.Pairs}))
		}
		score("codes", 0, 1, sp.Pool)
		for n := 2; n <= ask; n++ {
			for _, outside := range []float64{1, 0.5, 0.3, 0.2, 0.1} {
				score(fmt.Sprintf("codes+pairs%d", n), n, outside, combinePairs(sp.Pool, kc, sp.Cands, sp.Ans, n, outside))
			}
		}
	}
}

// pairsSplit is what TestPrunedPairsExperiment keeps of one split.
type pairsSplit struct {
	Classes                    []int
	Pool                       []float64
	Cands                      [][]int
	Ans                        pairAnswers
	Codebooks, Pairs           int
	FitSec, CodesSec, PairsSec float64
}

// TestCodesPoolExperiment fits KILN_POOL_ENSEMBLE (default 8) output-code members on the
// protocol's splits of the table KILN_POOL_TABLE and scores the pools of the first n members
// (n from 4), geometric (poolLog, the classifier's) and arithmetic (poolMean), with the
// share of rows whose true class is among the pool's first c classes (the candidates the
// pairs would see). One JSON line per split, n and pool to KILN_POOL_OUT (default stdout).
// KILN_POOL_SPLITS limits the splits. Without KILN_POOL_TABLE it is skipped.
func TestCodesPoolExperiment(t *testing.T) {
	path := os.Getenv("KILN_POOL_TABLE")
	if path == "" {
		t.Skip("KILN_POOL_TABLE not set")
	}
	out := os.Stdout
	if p := os.Getenv("KILN_POOL_OUT"); p != "" {
		f, err := os.Create(p)
		require.NoError(t, err)
		defer f.Close()
		out = f
	}
	atoi := func(name string, def int) int {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			require.NoError(t, err)
			return n
		}
		return def
	}
	proto := metrics.DefaultProtocol()
	proto.Splits = atoi("KILN_POOL_SPLITS", proto.Splits)
	ens := atoi("KILN_POOL_ENSEMBLE", 8)
	tab, err := data.Load(path, data.Options{})
	require.NoError(t, err)
	tab, _ = tab.DropRareClasses(proto.MinClassRows)
	k := tab.NumClasses()
	dev, err := device.Get("cpu")
	require.NoError(t, err)
	m, err := DefaultModel(dev)
	require.NoError(t, err)
	defer m.Release()
	capRows := func(t2 *data.Table, limit int, seed uint64) *data.Table {
		if t2.Rows() <= limit {
			return t2
		}
		idx, err := data.StratifiedSubsample(t2.Y, t2.NumClasses(), limit, seed)
		require.NoError(t, err)
		return t2.Subset(idx)
	}
	enc := json.NewEncoder(out)
	for s := 0; s < proto.Splits; s++ {
		seed := uint64(s)
		trIdx, teIdx, err := data.StratifiedSplit(tab.Y, k, proto.TestFraction, seed)
		require.NoError(t, err)
		train, test := capRows(tab.Subset(trIdx), proto.TrainCap, seed), capRows(tab.Subset(teIdx), proto.TestCap, seed)
		c, err := NewClassifier(WithModel(m), WithEnsemble(ens), WithPairwise(0))
		require.NoError(t, err)
		c.SetColumns(train.Columns)
		require.NoError(t, c.Fit(train.X, train.Y, k))
		kc := len(c.classes)
		t0 := time.Now()
		per := make([][]float64, len(c.members))
		for i, mb := range c.members {
			per[i], err = c.predictMember(mb, test.X, kc)
			require.NoError(t, err)
		}
		sec := time.Since(t0).Seconds()
		for n := 4; n <= len(per); n++ {
			for _, pool := range []string{"log", "mean"} {
				var p []float64
				if pool == "log" {
					p = poolLog(per[:n], test.X.Rows, kc)
				} else {
					p = poolMean(per[:n])
				}
				pm := data.NewMatrix(test.X.Rows, k)
				recall := map[int]float64{}
				for r := 0; r < test.X.Rows; r++ {
					for j, cl := range c.classes {
						pm.Data[r*k+cl] = p[r*kc+j]
					}
					cand := candidates(p[r*kc:(r+1)*kc], kc, nil)
					for _, top := range []int{1, 2, 4, 6, 8, 10, 12} {
						if slices.Index(cand[:top], slices.Index(c.classes, test.Y[r])) >= 0 {
							recall[top] += 1 / float64(test.X.Rows)
						}
					}
				}
				auc, err := metrics.ROCAUC(test.Y, pm)
				require.NoError(t, err)
				ll, err := metrics.LogLoss(test.Y, pm)
				require.NoError(t, err)
				require.NoError(t, enc.Encode(map[string]any{"split": s, "members": n, "pool": pool, "auc": auc,
					"logloss": ll, "recall": recall, "codebooks": len(c.members), "predict_s": sec}))
			}
		}
	}
}
