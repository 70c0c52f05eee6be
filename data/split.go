package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// NewRand returns the generator the split helpers use: PCG seeded with (seed, stream), so a
// split depends only on its seed, never on global state or the Go version's default source.
func NewRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// Streams separating the random draws of the helpers, so that a split and a subsample with
// the same seed do not reuse the same numbers.
const (
	streamSplit     = 0x5eed_0001
	streamSubsample = 0x5eed_0002
)

// RandomSplit splits row indices 0..n-1 into a training and a test part with ceil(testFraction·n)
// rows in the test part, drawn at random (no stratification: the regression protocol's
// split) with a PCG generator seeded with seed. Both index lists come back sorted.
func RandomSplit(n int, testFraction float64, seed uint64) (train, test []int, err error) {
	if !(testFraction > 0 && testFraction < 1) {
		return nil, nil, fmt.Errorf("data: test fraction %v is not in (0, 1)", testFraction)
	}
	nTest := int(math.Ceil(testFraction * float64(n)))
	if nTest <= 0 || nTest >= n {
		return nil, nil, fmt.Errorf("data: %d rows cannot be split with test fraction %v", n, testFraction)
	}
	perm := NewRand(seed, streamSplit).Perm(n)
	test, train = slices.Clone(perm[:nTest]), slices.Clone(perm[nTest:])
	slices.Sort(train)
	slices.Sort(test)
	return train, test, nil
}

// RandomSubsample returns min(n, limit) of the row indices 0..n-1, drawn at random without
// replacement with a PCG generator seeded with seed, sorted; all of them when n ≤ limit.
func RandomSubsample(n, limit int, seed uint64) []int {
	if n <= limit {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := slices.Clone(NewRand(seed, streamSubsample).Perm(n)[:limit])
	slices.Sort(idx)
	return idx
}

// StratifiedSplit splits row indices 0..len(y)-1 into a training and a test part with about
// testFraction of the rows in the test part and the class proportions of y kept in both.
//
// The test size is ceil(testFraction·n), as scikit-learn's StratifiedShuffleSplit does; it is
// spread over the classes by the largest-remainder method (Hamilton apportionment), so the
// per-class counts differ from the exact proportions by less than one row. A class with at
// least two rows keeps at least one row on each side (which can move the total by a row).
// Rows are drawn at random within each class with a PCG generator seeded with seed. Both
// index lists come back sorted. Labels must lie in [0, nClasses).
func StratifiedSplit(y []int, nClasses int, testFraction float64, seed uint64) (train, test []int, err error) {
	n := len(y)
	if !(testFraction > 0 && testFraction < 1) {
		return nil, nil, fmt.Errorf("data: test fraction %v is not in (0, 1)", testFraction)
	}
	byClass, err := groupByClass(y, nClasses)
	if err != nil {
		return nil, nil, err
	}
	nTest := int(math.Ceil(testFraction * float64(n)))
	if nTest <= 0 || nTest >= n {
		return nil, nil, fmt.Errorf("data: %d rows cannot be split with test fraction %v", n, testFraction)
	}
	counts := make([]int, nClasses)
	for c, rows := range byClass {
		counts[c] = len(rows)
	}
	alloc := apportion(counts, nTest)
	for c, k := range counts {
		if k >= 2 {
			alloc[c] = min(max(alloc[c], 1), k-1)
		}
	}
	rng := NewRand(seed, streamSplit)
	for c, rows := range byClass {
		rows = slices.Clone(rows)
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		test = append(test, rows[:alloc[c]]...)
		train = append(train, rows[alloc[c]:]...)
	}
	slices.Sort(train)
	slices.Sort(test)
	return train, test, nil
}

// StratifiedSubsample returns at most limit row indices, drawn per class in proportion to the
// class counts of y (largest-remainder apportionment, every class keeping at least one row
// when limit allows), at random with a PCG generator seeded with seed. When len(y) ≤ limit it
// returns every index. The result is sorted.
func StratifiedSubsample(y []int, nClasses, limit int, seed uint64) ([]int, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("data: subsample limit %d must be positive", limit)
	}
	byClass, err := groupByClass(y, nClasses)
	if err != nil {
		return nil, err
	}
	if len(y) <= limit {
		all := make([]int, len(y))
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	counts := make([]int, nClasses)
	present := 0
	for c, rows := range byClass {
		counts[c] = len(rows)
		if len(rows) > 0 {
			present++
		}
	}
	alloc := apportion(counts, limit)
	if limit >= present {
		// Give an empty-handed class one row, taken from the class furthest above its quota.
		for c := range alloc {
			if counts[c] > 0 && alloc[c] == 0 {
				donor, best := -1, math.Inf(-1)
				for d := range alloc {
					excess := float64(alloc[d]) - float64(counts[d])*float64(limit)/float64(len(y))
					if alloc[d] > 1 && excess > best {
						donor, best = d, excess
					}
				}
				if donor >= 0 {
					alloc[donor]--
					alloc[c]++
				}
			}
		}
	}
	rng := NewRand(seed, streamSubsample)
	var out []int
	for c, rows := range byClass {
		rows = slices.Clone(rows)
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		out = append(out, rows[:alloc[c]]...)
	}
	slices.Sort(out)
	return out, nil
}

func groupByClass(y []int, nClasses int) ([][]int, error) {
	if len(y) == 0 {
		return nil, fmt.Errorf("data: no rows")
	}
	by := make([][]int, nClasses)
	for i, c := range y {
		if c < 0 || c >= nClasses {
			return nil, fmt.Errorf("data: label %d of row %d is outside [0, %d)", c, i, nClasses)
		}
		by[c] = append(by[c], i)
	}
	return by, nil
}

// apportion splits total into integer parts proportional to counts by the largest-remainder
// method: each part gets the floor of its quota, and the rows left over go to the largest
// fractional remainders (ties to the larger class, then the lower index).
func apportion(counts []int, total int) []int {
	sum := 0
	for _, c := range counts {
		sum += c
	}
	alloc := make([]int, len(counts))
	rem := make([]float64, len(counts))
	given := 0
	for c, k := range counts {
		q := float64(k) * float64(total) / float64(sum)
		alloc[c] = int(math.Floor(q))
		rem[c] = q - float64(alloc[c])
		given += alloc[c]
	}
	order := make([]int, len(counts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		i, j := order[a], order[b]
		if rem[i] != rem[j] {
			return rem[i] > rem[j]
		}
		return counts[i] > counts[j]
	})
	for k := 0; given < total; k = (k + 1) % len(order) {
		c := order[k]
		if alloc[c] < counts[c] {
			alloc[c]++
			given++
		}
	}
	return alloc
}
