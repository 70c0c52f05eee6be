package scaling

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func relErr(got, want float64) float64 { return math.Abs(got-want) / math.Abs(want) }

// bruteForceOptimalN minimises L(N, C/(6N)) over a fine log-spaced grid of N and refines by
// golden-section search: an independent reference for the closed form.
func bruteForceOptimalN(l Law, c float64) float64 {
	f := func(logN float64) float64 { n := math.Exp(logN); return l.Loss(n, c/(6*n)) }
	lo, hi := math.Log(1e3), math.Log(c/6/1e3)
	bestX, bestF := lo, math.Inf(1)
	for i := 0; i <= 20000; i++ {
		x := lo + (hi-lo)*float64(i)/20000
		if v := f(x); v < bestF {
			bestX, bestF = x, v
		}
	}
	step := (hi - lo) / 20000
	a, b := bestX-step, bestX+step
	gr := (math.Sqrt(5) - 1) / 2
	for range 200 {
		x1, x2 := b-gr*(b-a), a+gr*(b-a)
		if f(x1) < f(x2) {
			b = x2
		} else {
			a = x1
		}
	}
	return math.Exp((a + b) / 2)
}

func TestComputeOptimalMatchesBruteForce(t *testing.T) {
	for _, l := range []Law{Hoffmann, Replication, {E: 1, A: 50, B: 900, Alpha: 0.2, Beta: 0.45}} {
		for _, c := range []float64{1e18, 5.76e23, 1e26} {
			got, err := l.ComputeOptimal(c)
			if err != nil {
				t.Fatal(err)
			}
			want := bruteForceOptimalN(l, c)
			if e := relErr(got.N, want); e > 1e-5 {
				t.Errorf("%+v C=%g: N_opt=%g, brute force %g (rel err %g)", l, c, got.N, want, e)
			}
			if e := relErr(6*got.N*got.D, c); e > 1e-12 {
				t.Errorf("6ND = %g, want C = %g", 6*got.N*got.D, c)
			}
			if e := relErr(got.TokensPerParam, got.D/got.N); e > 1e-12 {
				t.Errorf("tokens per param %g, want %g", got.TokensPerParam, got.D/got.N)
			}
			if e := relErr(got.Loss, l.Loss(got.N, got.D)); e > 1e-12 {
				t.Errorf("loss %g, want %g", got.Loss, l.Loss(got.N, got.D))
			}
		}
	}
}

func TestExponentsSumToOne(t *testing.T) {
	a, b := Replication.Exponents()
	if math.Abs(a+b-1) > 1e-15 {
		t.Fatalf("a+b = %g", a+b)
	}
	// Besiroglu et al. 2024 report a = β/(α+β) = 0.5126 for their law.
	if math.Abs(a-0.5126) > 5e-5 {
		t.Errorf("a = %.5f, published 0.5126", a)
	}
	// N_opt ∝ C^a: doubling C multiplies N_opt by 2^a.
	n1, _ := Replication.ComputeOptimal(1e22)
	n2, _ := Replication.ComputeOptimal(2e22)
	if e := relErr(n2.N/n1.N, math.Pow(2, a)); e > 1e-12 {
		t.Errorf("N_opt(2C)/N_opt(C) = %g, want 2^a = %g", n2.N/n1.N, math.Pow(2, a))
	}
}

func TestComputeOptimalForLossIsOnTheFrontier(t *testing.T) {
	for _, l := range []Law{Hoffmann, Replication} {
		for _, target := range []float64{2.0, 2.3, 3.0} {
			got, err := l.ComputeOptimalForLoss(target)
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(got.Loss, target); e > 1e-12 {
				t.Errorf("loss %g, want %g", got.Loss, target)
			}
			// The pair must be the compute-optimal one for its own budget.
			opt, _ := l.ComputeOptimal(got.Compute)
			if relErr(opt.N, got.N) > 1e-9 || relErr(opt.D, got.D) > 1e-9 {
				t.Errorf("loss %g: (N, D) = (%g, %g) but compute-optimal at C=%g is (%g, %g)", target, got.N, got.D, got.Compute, opt.N, opt.D)
			}
		}
	}
	if _, err := Hoffmann.ComputeOptimalForLoss(1.5); err == nil {
		t.Error("a target below E should be an error")
	}
}

func TestLawValidation(t *testing.T) {
	bad := []Law{
		{E: 1, A: -1, B: 1, Alpha: 0.3, Beta: 0.3},
		{E: 1, A: 1, B: 1, Alpha: 0, Beta: 0.3},
		{E: math.NaN(), A: 1, B: 1, Alpha: 0.3, Beta: 0.3},
	}
	for _, l := range bad {
		if _, err := l.ComputeOptimal(1e20); err == nil {
			t.Errorf("%+v: want an error", l)
		}
	}
	for _, c := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := Hoffmann.ComputeOptimal(c); err == nil {
			t.Errorf("C=%g: want an error", c)
		}
	}
}

func TestPresets(t *testing.T) {
	p, err := LookupPreset("Chinchilla")
	if err != nil || p.Law != Hoffmann {
		t.Fatalf("chinchilla preset: %+v, %v", p, err)
	}
	p, err = LookupPreset("replication")
	if err != nil || p.Law != Replication {
		t.Fatalf("replication preset: %+v, %v", p, err)
	}
	if _, err := LookupPreset("kaplan"); err == nil || !strings.Contains(err.Error(), "chinchilla") {
		t.Errorf("unknown preset error should list the known ones, got %v", err)
	}
}

func TestReadLaw(t *testing.T) {
	// The shape FitResult encodes to.
	fr := FitResult{Law: Replication, Objective: 1}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(&fr); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLaw(&buf)
	if err != nil || got != Replication {
		t.Fatalf("from FitResult JSON: %+v, %v", got, err)
	}
	got, err = ReadLaw(strings.NewReader(`{"E":1.69,"A":406.4,"B":410.7,"alpha":0.34,"beta":0.28}`))
	if err != nil || got != Hoffmann {
		t.Fatalf("bare law: %+v, %v", got, err)
	}
	for _, in := range []string{`{"E":1.69,"A":406.4,"B":410.7,"alpha":0.34}`, `not json`, `{"law":{"E":1,"A":1,"B":1,"alpha":-1,"beta":1}}`, `{"law": 3}`} {
		if _, err := ReadLaw(strings.NewReader(in)); err == nil {
			t.Errorf("%s: want an error", in)
		}
	}
}
