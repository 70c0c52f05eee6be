package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/kiln-ml/kiln/data"
	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/internal/flagbound"
	"github.com/kiln-ml/kiln/internal/outguard"
	"github.com/kiln-ml/kiln/nn"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/tensor"
)

func init() { addCommand(newOptimCmd()) }

func newOptimCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "optim",
		Short: "Compare kiln's optimizers (SGD, AdamW, LAMB, Sophia, AdaHessian) on a real dataset",
		Example: `  kiln optim compare
  kiln optim compare --dataset ../shared/data/tabular/letter.csv --steps 500 --plot curves.png --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	c.AddCommand(newOptimCompareCmd())
	return c
}

// optimCompareResult is one optimizer's run (the best of its learning-rate sweep).
type optimCompareResult struct {
	Optimizer    string       `json:"optimizer"`
	LR           float64      `json:"lr"`
	FinalLoss    float64      `json:"final_train_loss"`
	TestAccuracy float64      `json:"test_accuracy"`
	WallSeconds  float64      `json:"wall_seconds"`
	MsPerStep    float64      `json:"ms_per_step"`
	Curve        []float64    `json:"loss_curve"`
	Sweep        []sweepPoint `json:"sweep,omitempty"`
	Error        string       `json:"error,omitempty"`
}

type sweepPoint struct {
	LR        float64 `json:"lr"`
	FinalLoss float64 `json:"final_train_loss"`
}

type optimCompareReport struct {
	Dataset      string               `json:"dataset"`
	Device       string               `json:"device"`
	Rows         int                  `json:"train_rows"`
	TestRows     int                  `json:"test_rows"`
	Features     int                  `json:"features"`
	Classes      int                  `json:"classes"`
	Hidden       int                  `json:"hidden"`
	Steps        int                  `json:"steps"`
	Batch        int                  `json:"batch"`
	Seed         uint64               `json:"seed"`
	SweepFactors []float64            `json:"sweep_factors"`
	Results      []optimCompareResult `json:"results"`
}

// optimSpecs are the compared optimizers: name, default learning rate and constructor.
var optimSpecs = []struct {
	name string
	lr   float64
	make func(gs []optim.Group, lr float64) (optim.Optimizer, error)
}{
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

func newOptimCompareCmd() *cobra.Command {
	var (
		dataset, plotPath, devName, only string
		steps, batch, hidden             int
		seed                             uint64
		sweep, asJSON                    bool
		testFrac                         float64
	)
	c := &cobra.Command{
		Use:   "compare",
		Short: "Train one small MLP with every optimizer under the same budget and seed",
		Long: `compare trains the same MLP (features → hidden → ReLU → classes, float32, identical
initial weights) on a CSV classification dataset with each optimizer, for the same number of
minibatch steps over the same minibatches. Features are standardised with training-set
statistics; a stratified test split measures accuracy. Each optimizer runs at its default
learning rate (SGD: 0.05 with momentum 0.9) or, with --sweep, at 0.1×, 1× and 10× of it,
keeping the run with the lowest final training loss. Sophia refreshes its Hessian with the
Gauss-Newton-Bartlett estimate every 10 steps (SophiaG); AdaHessian estimates |Hv| every step.
The table reports the final full-training-set loss, test accuracy, wall time and time per
step; --plot draws the minibatch loss curves (10-step moving average) to a PNG.`,
		Example: `  kiln optim compare
  kiln optim compare --dataset ../shared/data/tabular/iris.csv --steps 200 --sweep=false
  kiln optim compare --steps 500 --plot curves.png --json --optimizers adamw,lamb`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := selectOptimizers(only)
			if err != nil {
				return err
			}
			if err := checkOutputs(cmd, []outguard.File{outFile("--plot", plotPath)}, inFile("--dataset", dataset)); err != nil {
				return err
			}
			dev, err := device.Get(devName)
			if err != nil {
				return err
			}
			factors := []float64{1}
			if sweep {
				factors = []float64{0.1, 1, 10}
			}
			var rep *optimCompareReport
			err = tensor.Catch(func() error {
				var err error
				rep, err = runOptimCompare(dev, dataset, names, factors, steps, batch, hidden, seed, testFrac)
				return err
			})
			if err != nil {
				return err
			}
			if plotPath != "" {
				if err := plotCurves(rep, plotPath); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(out, "%s: %d training rows, %d test rows, %d features, %d classes; MLP %d-%d-%d on %s; %d steps of %d rows, seed %d\n",
				rep.Dataset, rep.Rows, rep.TestRows, rep.Features, rep.Classes, rep.Features, rep.Hidden, rep.Classes,
				rep.Device, rep.Steps, rep.Batch, rep.Seed)
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "optimizer\tlr\tfinal train loss\ttest accuracy\twall s\tms/step\t")
			for _, r := range rep.Results {
				if r.Error != "" {
					fmt.Fprintf(tw, "%s\t%.3g\tfailed: %s\t\t\t\t\n", r.Optimizer, r.LR, r.Error)
					continue
				}
				fmt.Fprintf(tw, "%s\t%.3g\t%.4f\t%.4f\t%.2f\t%.2f\t\n", r.Optimizer, r.LR, r.FinalLoss, r.TestAccuracy, r.WallSeconds, r.MsPerStep)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if plotPath != "" {
				fmt.Fprintf(out, "loss curves written to %s\n", plotPath)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dataset, "dataset", "../shared/data/tabular/digits.csv", "CSV file with a header row, or Parquet file (.parquet, .pq); the last column is the class")
	flagbound.Int(f, &steps, "steps", 300, 1, 10_000_000, "minibatch steps per optimizer (the minibatches are built up front: their memory is checked)")
	flagbound.Int(f, &batch, "batch", 128, 1, maxTableRows, "minibatch rows")
	flagbound.Int(f, &hidden, "hidden", 64, 1, 1<<20, "hidden units of the MLP")
	flagbound.Seed(f, &seed, "seed", 1, "seed of the split, the initial weights, the minibatches and the Hessian probes")
	f.BoolVar(&sweep, "sweep", true, "try 0.1×, 1× and 10× each optimizer's default learning rate and keep the best")
	f.StringVar(&only, "optimizers", "", "comma-separated subset of sgd,adamw,lamb,sophia,adahessian (default all)")
	flagbound.Float(f, &testFrac, "test-fraction", 0.2, flagbound.Open(0, 1), "fraction of rows held out (stratified) for test accuracy")
	f.StringVar(&plotPath, "plot", "", "write the loss curves to this PNG (or .svg) file")
	f.StringVar(&devName, "device", "cpu", "device: cpu, cuda, cuda:1 …")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON (with the loss curves)")
	return c
}

func selectOptimizers(only string) ([]string, error) {
	var all []string
	for _, s := range optimSpecs {
		all = append(all, s.name)
	}
	if strings.TrimSpace(only) == "" {
		return all, nil
	}
	var names []string
	for _, n := range strings.Split(only, ",") {
		n = strings.ToLower(strings.TrimSpace(n))
		found := false
		for _, a := range all {
			if a == n {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown optimizer %q (known: %s)", n, strings.Join(all, ", "))
		}
		names = append(names, n)
	}
	return names, nil
}

// compareData is the standardised dataset, split, with the minibatches fixed up front.
type compareData struct {
	dev                  device.Device
	xTrain, xTest        *tensor.Tensor
	yTrain               *tensor.Tensor
	yTest                []int
	batchesX, batchesY   []*tensor.Tensor
	features, classes, n int
}

func (d *compareData) release() {
	for _, t := range append(append([]*tensor.Tensor{d.xTrain, d.xTest, d.yTrain}, d.batchesX...), d.batchesY...) {
		if t != nil {
			t.Release()
		}
	}
}

func loadCompareData(dev device.Device, path string, steps, batch int, seed uint64, testFrac float64) (*compareData, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("dataset %s: %w (the default is read relative to the repository root)", path, err)
	}
	tab, err := data.Load(path, data.Options{})
	if err != nil {
		return nil, err
	}
	n, d, k := tab.Rows(), tab.NumFeatures(), len(tab.Classes)
	if d == 0 {
		return nil, fmt.Errorf("dataset %s has no feature columns", path)
	}
	train, test, err := data.StratifiedSplit(tab.Y, k, testFrac, seed)
	if err != nil {
		return nil, err
	}
	if len(train) == 0 || len(test) == 0 {
		return nil, fmt.Errorf("dataset %s has too few rows (%d) for a train/test split", path, n)
	}
	// The minibatches of every step are built below, before any training: refuse a
	// --steps × --batch that cannot fit before building them.
	if err := checkMemory(dev, fmt.Sprintf("optim compare --steps %d --batch %d on %d features", steps, batch, d),
		minibatchBytes(steps, min(batch, len(train)), d)); err != nil {
		return nil, err
	}
	// Standardise with training statistics; missing values become the training mean (0).
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
				v := tab.X.At(i, j)
				if !math.IsNaN(v) {
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
	cd := &compareData{dev: dev, features: d, classes: k, n: len(train)}
	cd.xTrain = tensor.FromFloat64As(dev, tensor.Float32, rows(train), len(train), d).Detach()
	cd.yTrain = tensor.FromInt32(dev, labels(train)).Detach()
	cd.xTest = tensor.FromFloat64As(dev, tensor.Float32, rows(test), len(test), d).Detach()
	for _, i := range test {
		cd.yTest = append(cd.yTest, tab.Y[i])
	}
	// Minibatches: consecutive slices of a fresh permutation per epoch, the same for every
	// optimizer.
	b := min(batch, len(train))
	r := rand.New(rand.NewPCG(seed, 0x6b696c6e))
	var perm []int
	for s := 0; s < steps; s++ {
		if len(perm) < b {
			perm = r.Perm(len(train))
		}
		idx := make([]int, b)
		for i := range idx {
			idx[i] = train[perm[i]]
		}
		perm = perm[b:]
		cd.batchesX = append(cd.batchesX, tensor.FromFloat64As(dev, tensor.Float32, rows(idx), b, d).Detach())
		cd.batchesY = append(cd.batchesY, tensor.FromInt32(dev, labels(idx)).Detach())
	}
	return cd, nil
}

func runOptimCompare(dev device.Device, path string, names []string, factors []float64, steps, batch, hidden int, seed uint64, testFrac float64) (*optimCompareReport, error) {
	cd, err := loadCompareData(dev, path, steps, batch, seed, testFrac)
	if err != nil {
		return nil, err
	}
	defer cd.release()
	if err := checkMemory(dev, fmt.Sprintf("optim compare --hidden %d on %d features", hidden, cd.features),
		mlpBytes(cd.batchesX[0].Dim(0), cd.features, hidden, cd.classes, cd.n)); err != nil {
		return nil, err
	}
	rep := &optimCompareReport{Dataset: path, Device: dev.Name(), Rows: cd.n, TestRows: len(cd.yTest),
		Features: cd.features, Classes: cd.classes, Hidden: hidden, Steps: steps, Batch: cd.batchesX[0].Dim(0),
		Seed: seed, SweepFactors: factors}
	for _, name := range names {
		var best *optimCompareResult
		var sweepPts []sweepPoint
		for _, f := range factors {
			for _, s := range optimSpecs {
				if s.name != name {
					continue
				}
				res := trainOne(cd, s.name, s.lr*f, s.make, hidden, seed)
				if res.Error == "" {
					sweepPts = append(sweepPts, sweepPoint{LR: res.LR, FinalLoss: res.FinalLoss})
				}
				if best == nil || best.Error != "" || (res.Error == "" && res.FinalLoss < best.FinalLoss) {
					best = &res
				}
			}
		}
		if len(factors) > 1 {
			best.Sweep = sweepPts
		}
		rep.Results = append(rep.Results, *best)
	}
	return rep, nil
}

// trainOne trains a fresh MLP (initial weights from seed) with one optimizer. Failures of
// the optimizer (a refused non-finite step, say) are reported in the result, not returned.
func trainOne(cd *compareData, name string, lr float64, mk func([]optim.Group, float64) (optim.Optimizer, error), hidden int, seed uint64) optimCompareResult {
	res := optimCompareResult{Optimizer: name, LR: lr}
	// fail reports a failed run; JSON cannot hold NaN or Inf, so the curve keeps its finite
	// prefix and the scores stay 0 (the error says what happened).
	fail := func(err error) optimCompareResult {
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
	gen := tensor.NewGenerator(seed)
	model, err := nn.NewMLP(cd.dev, tensor.Float32, []int{cd.features, hidden, cd.classes}, ops.Relu, nn.KaimingUniform, gen)
	if err != nil {
		return fail(err)
	}
	defer nn.Release(model)
	var ps []optim.Param
	for _, p := range model.NamedParameters() {
		ps = append(ps, optim.Param{Name: p.Name, T: p.Tensor})
	}
	o, err := mk(optim.SplitDecay(ps), lr)
	if err != nil {
		return fail(err)
	}
	defer o.Release()
	probe := tensor.NewGenerator(seed + 1)
	params := model.Parameters()
	// The data tensors are shared by every optimizer's run; each step works on views of
	// them in the run's own execution context.
	ec := tensor.NewContext()
	defer ec.Close()
	start := time.Now()
	err = tensor.Catch(func() error {
		for s := range cd.batchesX {
			sc := ec.NewScope()
			xb, yb := ec.View(cd.batchesX[s]), ec.View(cd.batchesY[s])
			loss := func() *tensor.Tensor { return ops.CrossEntropy(model.Forward(xb), yb, nil) }
			ops.ZeroGrad(params...)
			var l float64
			if ah, ok := o.(*optim.AdaHessian); ok {
				var err error
				if l, err = ah.Prepare(ec, loss, probe); err != nil {
					sc.Close()
					return err
				}
			} else {
				lt := loss()
				ops.Backward(lt)
				l = lt.Item()
			}
			res.Curve = append(res.Curve, l)
			if err := o.Step(); err != nil {
				sc.Close()
				return err
			}
			if so, ok := o.(*optim.Sophia); ok && so.HessianDue() {
				ops.ZeroGrad(params...)
				if err := so.UpdateHessianGNB(ec, func() *tensor.Tensor { return model.Forward(xb) }, probe); err != nil {
					sc.Close()
					return err
				}
			}
			sc.Close()
		}
		return nil
	})
	ops.ZeroGrad(params...)
	if err != nil {
		return fail(err)
	}
	if err := cd.dev.Sync(); err != nil {
		return fail(err)
	}
	wall := time.Since(start)
	res.WallSeconds = wall.Seconds()
	res.MsPerStep = wall.Seconds() * 1e3 / float64(len(cd.batchesX))
	err = tensor.Catch(func() error {
		ec.NoGrad(func() {
			sc := ec.NewScope()
			defer sc.Close()
			res.FinalLoss = ops.CrossEntropy(model.Forward(ec.View(cd.xTrain)), ec.View(cd.yTrain), nil).Item()
			logits := model.Forward(ec.View(cd.xTest)).Float64s()
			correct := 0
			for i, y := range cd.yTest {
				row := logits[i*cd.classes : (i+1)*cd.classes]
				arg := 0
				for j, v := range row {
					if v > row[arg] {
						arg = j
					}
				}
				if arg == y {
					correct++
				}
			}
			res.TestAccuracy = float64(correct) / float64(len(cd.yTest))
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

// plotCurves draws each optimizer's minibatch loss (10-step moving average) on a log scale.
func plotCurves(rep *optimCompareReport, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("training loss (10-step moving average), %d-%d-%d MLP", rep.Features, rep.Hidden, rep.Classes)
	p.X.Label.Text = "step"
	p.Y.Label.Text = "cross-entropy"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{}
	p.Legend.Top = true
	palette := []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255}}
	drawn := 0
	for i, r := range rep.Results {
		if r.Error != "" || len(r.Curve) == 0 {
			continue
		}
		pts := make(plotter.XYs, 0, len(r.Curve))
		sum := 0.0
		for s, v := range r.Curve {
			sum += v
			if s >= 10 {
				sum -= r.Curve[s-10]
			}
			avg := sum / float64(min(s+1, 10))
			if avg > 0 && !math.IsInf(avg, 0) {
				pts = append(pts, plotter.XY{X: float64(s + 1), Y: avg})
			}
		}
		if len(pts) == 0 {
			continue
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color = palette[i%len(palette)]
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s (lr %.3g)", r.Optimizer, r.LR), line)
		drawn++
	}
	if drawn == 0 {
		return errors.New("no optimizer produced a loss curve to plot")
	}
	return savePlot(p, 8*vg.Inch, 5*vg.Inch, path)
}
