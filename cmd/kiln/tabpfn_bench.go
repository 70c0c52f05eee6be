package main

import (
	"fmt"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/bench"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/internal/synth"
	"github.com/kiln-ml/kiln/models/tabpfn"
)

// The TabPFN end-to-end case of `kiln bench`: fit+predict of the default classifier on a
// synthetic table of kiln's reference shape for TabPFN speed (1000 training rows, 20
// features, 1000 test rows). There is no anchor in this process; the number to compare is
// seconds per dataset across devices and against the classical models' times in
// tabular-baselines.json.
// The ensemble is the classifier's default, the automatic size for the table, and the
// context is the whole training set: the automatic setting's held-out choice of local
// contexts (see tabpfn.WithLocalContexts) would add its own cost, which
// BenchmarkRegressorContextChoice measures.
func init() {
	extraBenchCases = append(extraBenchCases, func(kind string, quick bool) []bench.Case {
		train, test, feats := 1000, 1000, 20
		if quick {
			train, test, feats = 60, 40, 5
		}
		return []bench.Case{tabpfnCase(train, test, feats, tabpfn.AutoEnsemble(train, feats, 2))}
	})
}

func tabpfnCase(nTrain, nTest, feats, ensemble int) bench.Case {
	return bench.Case{
		Name:  fmt.Sprintf("tabpfn fit+predict %dx%d → %d (ensemble %d)", nTrain, feats, nTest, ensemble),
		Group: "tabpfn", Work: 1, Unit: "datasets/s",
		Setup: func(dev device.Device) (func() error, func(), error) {
			// A two-class problem with a linear boundary plus noise, seeded.
			r := rand.New(rand.NewPCG(1, 2))
			xtr, ytr := synth.LinearBoundary(r, nTrain, feats)
			xte, _ := synth.LinearBoundary(r, nTest, feats)
			model, err := tabpfn.DefaultModel(dev)
			if err != nil {
				return nil, nil, err
			}
			run := func() error {
				c, err := tabpfn.NewClassifier(tabpfn.WithModel(model), tabpfn.WithEnsemble(ensemble), tabpfn.WithLocalContexts(0))
				if err != nil {
					return err
				}
				defer c.Close()
				if err := c.Fit(xtr, ytr, 2); err != nil {
					return err
				}
				_, err = c.PredictProba(xte)
				return err
			}
			return run, model.Release, nil
		},
	}
}
