package scaling

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
)

// bootstrapNames are the quantities the bootstrap reports, in order: the five parameters of
// the law and the compute-optimal exponents a = β/(α+β), b = α/(α+β).
var bootstrapNames = []string{"E", "A", "B", "alpha", "beta", "a", "b"}

func bootstrapValues(l Law) []float64 {
	a, b := l.Exponents()
	return []float64{l.E, l.A, l.B, l.Alpha, l.Beta, a, b}
}

// bootstrap resamples the runs with replacement (Efron's nonparametric bootstrap, as
// Besiroglu et al. 2024 do for their standard errors), refits each resample from
// starts and summarises the distribution of every quantity: standard deviation as the
// standard error and the percentile interval at the given level. A resample is refitted
// precisely from the warm starts (the distinct optima of the full-data search), or with the
// whole two-phase grid search when fullGrid is set. Resample i draws from its
// own PCG stream (seed, i), so the result does not depend on the number of goroutines.
func bootstrap(full *objective, warm, grid [][numParams]float64, fullGrid bool, point Law, samples int, seed uint64, level float64, workers int) *BootstrapResult {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, samples)
	n := len(full.w)
	draws := make([][]float64, samples) // nil when the resample's fit failed
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := full.clone()
			o.w = make([]float64, n)
			for i := range next {
				rng := rand.New(rand.NewPCG(seed, uint64(i)))
				clear(o.w)
				for range n {
					o.w[rng.IntN(n)]++
				}
				bf := localFit{f: math.Inf(1)}
				if fullGrid {
					// One goroutine per resample already keeps the cores busy.
					if p, _ := o.search(grid, polishCount, 1); len(p) > 0 {
						bf = p[0]
					}
				} else {
					for _, s := range warm {
						if f := o.minimize(s, preciseStop); f.f < bf.f {
							bf = f
						}
					}
				}
				if !math.IsInf(bf.f, 1) {
					draws[i] = bootstrapValues(lawFromTheta(bf.x))
				}
			}
		}()
	}
	for i := range samples {
		next <- i
	}
	close(next)
	wg.Wait()

	res := &BootstrapResult{Samples: samples, Seed: seed, Level: level}
	est := bootstrapValues(point)
	cols := make([][]float64, len(bootstrapNames))
	for _, d := range draws {
		if d == nil {
			res.Failed++
			continue
		}
		for j, v := range d {
			cols[j] = append(cols[j], v)
		}
	}
	for j, name := range bootstrapNames {
		iv := Interval{Name: name, Estimate: est[j], SE: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
		if c := cols[j]; len(c) >= 2 {
			iv.SE = stddev(c)
			sort.Float64s(c)
			iv.Lo = quantileSorted(c, (1-level)/2)
			iv.Hi = quantileSorted(c, (1+level)/2)
		}
		res.Params = append(res.Params, iv)
	}
	return res
}

// stddev is the sample standard deviation (n−1 denominator).
func stddev(x []float64) float64 {
	var m float64
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	var s float64
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return math.Sqrt(s / float64(len(x)-1))
}

// MarshalJSON writes NaN (a quantity with fewer than two successful resamples) as null,
// which encoding/json would otherwise refuse.
func (iv Interval) MarshalJSON() ([]byte, error) {
	num := func(v float64) any {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return v
	}
	return json.Marshal(struct {
		Name     string `json:"name"`
		Estimate any    `json:"estimate"`
		SE       any    `json:"se"`
		Lo       any    `json:"lo"`
		Hi       any    `json:"hi"`
	}{iv.Name, num(iv.Estimate), num(iv.SE), num(iv.Lo), num(iv.Hi)})
}
