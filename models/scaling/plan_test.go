package scaling

import (
	"bytes"
	"image/png"
	"math"
	"testing"
)

// bruteForceInference minimises 6·N·D(N) + 2·N·T over a fine grid of log N on the constraint
// L(N, D) = target, refined by golden-section search: a reference that does not use the
// derivative the implementation bisects on.
func bruteForceInference(l Law, target, tokens float64) (n, d float64) {
	r := target - l.E
	dOf := func(logN float64) float64 { return math.Pow(l.B/(r-l.A*math.Exp(-l.Alpha*logN)), 1/l.Beta) }
	cost := func(logN float64) float64 {
		if r-l.A*math.Exp(-l.Alpha*logN) <= 0 {
			return math.Inf(1)
		}
		return 6*math.Exp(logN)*dOf(logN) + 2*math.Exp(logN)*tokens
	}
	lo := math.Log(l.A/r) / l.Alpha
	hi := lo + 30
	bestX, bestF := lo, math.Inf(1)
	const steps = 60000
	for i := 1; i <= steps; i++ {
		x := lo + (hi-lo)*float64(i)/steps
		if f := cost(x); f < bestF {
			bestX, bestF = x, f
		}
	}
	h := (hi - lo) / steps
	a, b := bestX-h, bestX+h
	gr := (math.Sqrt(5) - 1) / 2
	for range 200 {
		x1, x2 := b-gr*(b-a), a+gr*(b-a)
		if cost(x1) < cost(x2) {
			b = x2
		} else {
			a = x1
		}
	}
	x := (a + b) / 2
	return math.Exp(x), dOf(x)
}

func TestInferenceOptimalMatchesBruteForce(t *testing.T) {
	for _, l := range []Law{Hoffmann, Replication} {
		for _, target := range []float64{2.1, 2.4} {
			for _, tokens := range []float64{1e9, 1e12, 2e13} {
				p, err := l.InferenceOptimal(target, tokens)
				if err != nil {
					t.Fatal(err)
				}
				n, d := bruteForceInference(l, target, tokens)
				if relErr(p.N, n) > 1e-4 || relErr(p.DTrain, d) > 1e-4 {
					t.Errorf("%+v ℓ=%g T=%g: (N, D) = (%g, %g), brute force (%g, %g)", l, target, tokens, p.N, p.DTrain, n, d)
				}
				if e := relErr(l.Loss(p.N, p.DTrain), target); e > 1e-9 {
					t.Errorf("loss at the plan %g, target %g", l.Loss(p.N, p.DTrain), target)
				}
				// Serving costs push towards a smaller model trained longer (Sardana et al. 2024).
				if !(p.N < p.Chinchilla.N && p.DTrain > p.Chinchilla.D) {
					t.Errorf("T=%g: plan (%g, %g) not smaller-and-longer than Chinchilla (%g, %g)", tokens, p.N, p.DTrain, p.Chinchilla.N, p.Chinchilla.D)
				}
				if !(p.SavedFLOPs > 0) || relErr(p.SavedFLOPs, p.ChinchillaTotalFLOPs-p.TotalFLOPs) > 1e-12 {
					t.Errorf("saved %g of %g", p.SavedFLOPs, p.ChinchillaTotalFLOPs)
				}
				if e := relErr(p.TotalFLOPs, 6*p.N*p.DTrain+2*p.N*tokens); e > 1e-12 {
					t.Errorf("total FLOPs %g", p.TotalFLOPs)
				}
			}
		}
	}
}

func TestInferenceOptimalWithoutInferenceIsChinchilla(t *testing.T) {
	p, err := Replication.InferenceOptimal(2.2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if relErr(p.N, p.Chinchilla.N) > 1e-12 || p.SavedFLOPs != 0 {
		t.Errorf("T=0: plan %+v differs from Chinchilla", p)
	}
	// The saving grows with the inference demand.
	small, _ := Replication.InferenceOptimal(2.2, 1e10)
	big, _ := Replication.InferenceOptimal(2.2, 1e13)
	if !(big.SavedFraction > small.SavedFraction && big.N < small.N) {
		t.Errorf("saved fraction %g (T=1e13) vs %g (T=1e10); N %g vs %g", big.SavedFraction, small.SavedFraction, big.N, small.N)
	}
}

func TestInferenceOptimalErrors(t *testing.T) {
	if _, err := Replication.InferenceOptimal(1.5, 1e12); err == nil {
		t.Error("target below E: want an error")
	}
	for _, tok := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := Replication.InferenceOptimal(2.2, tok); err == nil {
			t.Errorf("inference tokens %g: want an error", tok)
		}
	}
}

func TestWritePlot(t *testing.T) {
	runs := syntheticRuns(Replication, 50, 0.01, 11)
	var buf bytes.Buffer
	if err := WritePlot(&buf, runs, Replication, "synthetic"); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	// vg renders PNG at 96 dpi: 18 cm × 13 cm ≈ 680 × 491 pixels.
	b := img.Bounds()
	if b.Dx() < 600 || b.Dx() > 760 || b.Dy() < 430 || b.Dy() > 560 {
		t.Errorf("image is %d×%d", b.Dx(), b.Dy())
	}
	if err := WritePlot(&buf, nil, Replication, ""); err == nil {
		t.Error("no runs: want an error")
	}
}
