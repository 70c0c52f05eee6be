package prior

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"math"
	"slices"
	"testing"
)

func smallConfig() Config {
	c := DefaultConfig()
	c.Seed = 42
	c.MaxRows = 200
	c.MinRows = 32
	c.MaxFeatures = 24
	c.BatchSize = 3
	return c
}

func newSampler(t testing.TB, c Config) *Sampler {
	t.Helper()
	s, err := NewSampler(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sameDataset(a, b Dataset) bool {
	if a.Rows != b.Rows || a.Features != b.Features || a.Classes != b.Classes || a.NTrain != b.NTrain ||
		a.Prior != b.Prior || !slices.Equal(a.Y, b.Y) || !slices.Equal(a.Categorical, b.Categorical) || len(a.X) != len(b.X) {
		return false
	}
	for i := range a.X {
		if math.Float32bits(a.X[i]) != math.Float32bits(b.X[i]) {
			return false
		}
	}
	return true
}

func TestDeterministicAcrossWorkers(t *testing.T) {
	s := newSampler(t, smallConfig())
	if !sameDataset(s.Sample(7), s.Sample(7)) {
		t.Fatal("Sample(7) differs between calls")
	}
	if sameDataset(s.Sample(7), s.Sample(8)) {
		t.Fatal("Sample(7) equals Sample(8)")
	}
	other := smallConfig()
	other.Seed = 43
	if sameDataset(s.Sample(7), newSampler(t, other).Sample(7)) {
		t.Fatal("seeds 42 and 43 gave the same dataset")
	}
	collect := func(workers int) []Batch {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var out []Batch
		for b := range s.Stream(ctx, 5, workers) {
			out = append(out, b)
			if len(out) == 6 {
				break
			}
		}
		return out
	}
	one, three := collect(1), collect(3)
	for i := range one {
		ref := s.Batch(5 + uint64(i))
		for _, got := range []Batch{one[i], three[i]} {
			if got.Index != ref.Index || got.Shape != ref.Shape || len(got.Datasets) != 3 {
				t.Fatalf("batch %d: index %d shape %+v, want %d %+v", i, got.Index, got.Shape, ref.Index, ref.Shape)
			}
			for k := range got.Datasets {
				if !sameDataset(got.Datasets[k], ref.Datasets[k]) {
					t.Fatalf("batch %d dataset %d differs from Batch()", i, k)
				}
				if d := got.Datasets[k]; d.Rows != ref.Shape.Rows || d.Features != ref.Shape.Features || d.NTrain != ref.Shape.NTrain {
					t.Fatalf("dataset shape %d×%d/%d, batch shape %+v", d.Rows, d.Features, d.NTrain, ref.Shape)
				}
			}
		}
	}
	x, y := one[0].Stack()
	sh := one[0].Shape
	if len(x) != 3*sh.Rows*sh.Features || len(y) != 3*sh.Rows || y[sh.Rows] != one[0].Datasets[1].Y[0] {
		t.Error("Stack layout wrong")
	}
}

// TestShardsPartitionTheBatch checks the data-parallel split: rank r of n streams the
// datasets at positions r, r+n, … of every batch, identical to those of Batch, so that the
// ranks together draw the batch exactly once.
func TestShardsPartitionTheBatch(t *testing.T) {
	c := smallConfig()
	c.BatchSize = 7
	s := newSampler(t, c)
	for _, n := range []int{1, 2, 3, 4, 8} {
		for b := uint64(2); b < 4; b++ {
			ref := s.Batch(b)
			seen := 0
			for r := 0; r < n; r++ {
				ctx, cancel := context.WithCancel(context.Background())
				got := <-s.StreamShard(ctx, b, 2, r, n)
				cancel()
				if got.Index != b || got.Shape != ref.Shape || len(got.Datasets) != s.ShardSize(r, n) {
					t.Fatalf("n=%d rank %d batch %d: index %d shape %+v with %d datasets, want %+v with %d",
						n, r, b, got.Index, got.Shape, len(got.Datasets), ref.Shape, s.ShardSize(r, n))
				}
				for k, d := range got.Datasets {
					if !sameDataset(d, ref.Datasets[r+k*n]) {
						t.Fatalf("n=%d rank %d batch %d: dataset %d is not the batch's dataset %d", n, r, b, k, r+k*n)
					}
					seen++
				}
			}
			if seen != c.BatchSize {
				t.Fatalf("n=%d: the shards hold %d datasets, the batch %d", n, seen, c.BatchSize)
			}
		}
	}
}

func TestStreamStopsOnCancel(t *testing.T) {
	s := newSampler(t, smallConfig())
	ctx, cancel := context.WithCancel(context.Background())
	ch := s.Stream(ctx, 0, 2)
	<-ch
	cancel()
	for range ch { // must terminate: the channel is closed after cancellation
	}
}

// TestInvariants checks, over many datasets of both priors, the promises Dataset documents.
func TestInvariants(t *testing.T) {
	c := smallConfig()
	c.MissingFraction = 0
	c.CategoricalFraction = 0.5
	s := newSampler(t, c)
	var testMeans []float64
	kinds := map[Kind]int{}
	classHist := map[int]int{}
	catFeatures := 0
	for idx := range uint64(300) {
		d := s.Sample(idx)
		kinds[d.Prior]++
		classHist[d.Classes]++
		if d.Classes < 2 || d.Classes > c.MaxClasses {
			t.Fatalf("dataset %d: %d classes", idx, d.Classes)
		}
		if d.Rows < c.MinRows || d.Rows > c.MaxRows || d.Features < 1 || d.Features > c.MaxFeatures ||
			d.NTrain < 2 || d.NTrain >= d.Rows || len(d.X) != d.Rows*d.Features || len(d.Y) != d.Rows {
			t.Fatalf("dataset %d: bad shape %d×%d ntrain %d", idx, d.Rows, d.Features, d.NTrain)
		}
		seen := make([]bool, d.Classes)
		for i, y := range d.Y {
			if y < 0 || int(y) >= d.Classes {
				t.Fatalf("dataset %d: label %d", idx, y)
			}
			if i < d.NTrain {
				seen[y] = true
			}
		}
		if slices.Contains(seen, false) {
			t.Fatalf("dataset %d: a class is missing from the training rows: %v", idx, seen)
		}
		for _, v := range d.X {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("dataset %d: non-finite value %v without missing values configured", idx, v)
			}
		}
		for j := range d.Features {
			var sum, sq float64
			for i := range d.NTrain {
				v := float64(d.At(i, j))
				sum += v
				sq += v * v
			}
			n := float64(d.NTrain)
			m := sum / n
			sd := math.Sqrt((sq - n*m*m) / (n - 1))
			if math.Abs(m) > 1e-4 || (sd > 1e-6 && math.Abs(sd-1) > 1e-3) {
				t.Fatalf("dataset %d feature %d: training mean %v std %v, want 0 and 1 (or 0 when constant)", idx, j, m, sd)
			}
			if d.Categorical[j] {
				catFeatures++
				distinct := map[float32]bool{}
				for i := range d.Rows {
					distinct[d.At(i, j)] = true
				}
				if len(distinct) > 10 {
					t.Fatalf("categorical feature with %d values", len(distinct))
				}
			}
			if d.Rows-d.NTrain >= 20 {
				var ts float64
				for i := d.NTrain; i < d.Rows; i++ {
					ts += float64(d.At(i, j))
				}
				testMeans = append(testMeans, ts/float64(d.Rows-d.NTrain))
			}
		}
	}
	// Test rows follow the training distribution: their per-feature means are small on
	// average (they are the same process, scaled with training statistics).
	var avg float64
	for _, m := range testMeans {
		avg += math.Abs(m) / float64(len(testMeans))
	}
	if avg > 0.35 {
		t.Errorf("mean |test-row mean| of standardised features %v", avg)
	}
	if kinds[SCM] < 150 || kinds[BNN] < 50 {
		t.Errorf("prior mix %v, want about 70/30", kinds)
	}
	if classHist[2] == 0 || classHist[c.MaxClasses] == 0 {
		t.Errorf("class counts not spread over [2, %d]: %v", c.MaxClasses, classHist)
	}
	if catFeatures == 0 {
		t.Error("no categorical features with CategoricalFraction 0.5")
	}
}

func TestMissingValuesOnlyWhenConfigured(t *testing.T) {
	c := smallConfig()
	c.MissingFraction = 1
	c.MaxMissingRate = 0.2
	s := newSampler(t, c)
	var total, nan float64
	for idx := range uint64(40) {
		d := s.Sample(idx)
		for _, v := range d.X {
			total++
			if math.IsNaN(float64(v)) {
				nan++
			} else if math.IsInf(float64(v), 0) {
				t.Fatal("infinite value")
			}
		}
	}
	// Rates are uniform on (0, 0.2]: about 10% of cells on average.
	if rate := nan / total; rate < 0.05 || rate > 0.15 {
		t.Errorf("missing rate %v, want about 0.1", rate)
	}
}

func TestDiscretizeCoversClassesAndShufflesOrder(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3, 9, 0.5, 8, 8, 8}
	minClass := map[int]int{}
	for seed := range uint64(40) {
		r := newRand(seed, 0, 99, 0)
		labels, k, ok := discretize(r, v, 6, 4)
		if !ok || k != 4 {
			t.Fatalf("k=%d ok=%v", k, ok)
		}
		present := map[int]bool{}
		for _, l := range labels[:6] {
			present[l] = true
		}
		if len(present) != 4 {
			t.Fatalf("training rows hold classes %v", present)
		}
		// Thresholds are monotone: sorting rows by value gives a block structure in
		// labels (each label one contiguous run of values).
		order := []int{6, 1, 3, 4, 2, 0, 7, 8, 9, 5} // indices by increasing v
		runs := 1
		for i := 1; i < len(order); i++ {
			if labels[order[i]] != labels[order[i-1]] {
				runs++
			}
		}
		if runs != 4 {
			t.Fatalf("labels %v are not 4 contiguous value ranges", labels)
		}
		minClass[labels[6]]++
	}
	if len(minClass) < 3 {
		t.Errorf("the lowest-value class got labels %v over 40 seeds: order not shuffled", minClass)
	}
	if _, _, ok := discretize(newRand(1, 1, 1, 1), []float64{2, 2, 1}, 2, 3); ok {
		t.Error("constant training target accepted")
	}
}

func TestConfigAndShapeErrors(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.BatchSize = 0 },
		func(c *Config) { c.MinRows = 2 },
		func(c *Config) { c.MaxRows = c.MinRows - 1 },
		func(c *Config) { c.MaxFeatures = 0 },
		func(c *Config) { c.MaxClasses = 1 },
		func(c *Config) { c.MaxTrainFraction = 1 },
		func(c *Config) { c.BNNFraction = 1.5 },
		func(c *Config) { c.MaxMissingRate = 1 },
	} {
		c := DefaultConfig()
		mod(&c)
		if _, err := NewSampler(c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	s := newSampler(t, DefaultConfig())
	if _, err := s.Generate(0, Shape{Rows: 10, Features: 3, NTrain: 10}); err == nil {
		t.Error("NTrain = Rows accepted")
	}
	if _, err := s.Generate(0, Shape{Rows: 10, Features: 0, NTrain: 5}); err == nil {
		t.Error("no features accepted")
	}
}

// TestBasicMechanismsMatchEarlierVersions pins the datasets of a configuration without the
// extended mechanisms (ArgmaxClassFraction 0, MixedActivations false) to the checksum the
// version before them produced, so that a checkpoint of that version resumes on exactly the
// batches it would have seen.
func TestBasicMechanismsMatchEarlierVersions(t *testing.T) {
	c := smallConfig()
	if c.Mechanisms() != MechanismsBasic {
		t.Fatalf("DefaultConfig's mechanisms are %q, want basic", c.Mechanisms())
	}
	s := newSampler(t, c)
	h := fnv.New64a()
	var buf [4]byte
	for idx := range uint64(40) {
		d := s.Sample(idx)
		for _, v := range d.X {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
			h.Write(buf[:])
		}
		for _, y := range d.Y {
			binary.LittleEndian.PutUint32(buf[:], uint32(y))
			h.Write(buf[:])
		}
	}
	const want uint64 = 0xf3db7fbf42c3885c // commit 622115c, before the extended mechanisms
	if got := h.Sum64(); got != want {
		t.Fatalf("checksum of 40 basic-mechanism datasets %#x, want %#x", got, want)
	}
	// The extended mechanisms change the datasets.
	ext, err := c.WithMechanisms(MechanismsExtended)
	if err != nil {
		t.Fatal(err)
	}
	if e := newSampler(t, ext); sameDataset(s.Sample(3), e.Sample(3)) && sameDataset(s.Sample(4), e.Sample(4)) {
		t.Fatal("the extended mechanisms left datasets 3 and 4 unchanged")
	}
}

func TestExtendedActivations(t *testing.T) {
	for _, tc := range []struct {
		act     activation
		x, want float64
	}{
		{actStep, -0.5, 0}, {actStep, 0, 0}, {actStep, 1e-9, 1}, {actStep, 3, 1},
		{actAbs, -2, 2}, {actAbs, 1.5, 1.5},
		{actSin, math.Pi / 2, 1}, {actSin, -math.Pi / 6, -0.5},
	} {
		if got := tc.act.apply(tc.x); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("activation %d at %v = %v, want %v", tc.act, tc.x, got, tc.want)
		}
	}
	r := newRand(1, 2, 3, 0)
	seen := map[activation]bool{}
	for range 500 {
		if a := drawActivation(r, false); a >= numBasicActivations {
			t.Fatalf("basic draw gave extended activation %d", a)
		}
		seen[drawActivation(r, true)] = true
	}
	if len(seen) != int(numActivations) {
		t.Fatalf("mixed draws covered %d of %d activations", len(seen), numActivations)
	}
}

// TestArgmaxClasses checks the unordered labelling on targets built so that row i's largest
// target is known: labels must be a bijective image of the argmax, a target that wins no
// training row must drop out (its test rows going to their runner-up), and fewer than two
// classes must be refused.
func TestArgmaxClasses(t *testing.T) {
	const rows, nTrain = 60, 40
	ys := make([][]float64, 4)
	for k := range ys {
		ys[k] = make([]float64, rows)
	}
	want := make([]int, rows) // expected winner among targets 0..2
	for i := range rows {
		w := i % 3
		want[i] = w
		for k := range 3 {
			ys[k][i] = float64(i%5) * 0.01 // small spread, same for all
		}
		ys[w][i] += 10 // a margin no offset (0.5·N(0,1) after standardising) overturns
		// Target 3 wins only test rows; there its runner-up is target (i+1)%3.
		ys[3][i] = -50
		if i >= nTrain && i%2 == 0 {
			ys[3][i] = 100
			want[i] = (i + 1) % 3
			ys[want[i]][i] += 20
		}
	}
	labels, classes, ok := argmaxClasses(newRand(5, 6, 7, 0), ys, nTrain)
	if !ok || classes != 3 {
		t.Fatalf("classes %d ok %v, want 3 true", classes, ok)
	}
	toLabel := map[int]int{}
	for i, l := range labels {
		if l < 0 || l >= classes {
			t.Fatalf("row %d: label %d out of range", i, l)
		}
		if prev, seen := toLabel[want[i]]; seen && prev != l {
			t.Fatalf("row %d: target %d labelled %d and %d", i, want[i], prev, l)
		}
		toLabel[want[i]] = l
	}
	if len(toLabel) != 3 || toLabel[0] == toLabel[1] || toLabel[1] == toLabel[2] || toLabel[0] == toLabel[2] {
		t.Fatalf("target → label map %v is not a bijection", toLabel)
	}
	one := [][]float64{ys[0], ys[3]} // target 3 never wins a training row: one class left
	for i := range nTrain {
		one[1][i] = -100
	}
	if _, _, ok := argmaxClasses(newRand(5, 6, 7, 0), one, nTrain); ok {
		t.Fatal("a single surviving class was accepted")
	}
}

// TestArgmaxDatasetsCoverClasses draws datasets that all take the argmax labelling and checks
// the invariants training relies on: 3..MaxClasses classes, each present in the training part.
func TestArgmaxDatasetsCoverClasses(t *testing.T) {
	c := smallConfig()
	c.ArgmaxClassFraction = 1
	s := newSampler(t, c)
	multi := 0
	for idx := range uint64(200) {
		d := s.Sample(idx)
		inTrain := make([]bool, d.Classes)
		for i, y := range d.Y {
			if y < 0 || int(y) >= d.Classes {
				t.Fatalf("dataset %d: label %d outside [0, %d)", idx, y, d.Classes)
			}
			if i < d.NTrain {
				inTrain[y] = true
			}
		}
		if slices.Contains(inTrain, false) {
			t.Fatalf("dataset %d: a class is missing from the training part", idx)
		}
		if d.Classes >= 3 {
			multi++
		}
	}
	if multi < 100 {
		t.Fatalf("only %d of 200 datasets have three or more classes", multi)
	}
}
