package prior

import (
	"math"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/data/preprocess"
)

// Grouped datasets (Config.GroupFraction). Real tables are often panels and multilevel
// designs: pupils within schools, firms observed over years, patients seen at several visits.
// Their rows come in groups that share an identifier and group-level covariates, and the
// target carries a group effect that no smooth function of the other features gives: a
// prediction has to find the training rows of the same group, matching on equal values
// (a random-intercept and random-slope model, Laird and Ware 1982, "Random-effects models
// for longitudinal data"). The causal graphs of the prior draw independent rows, so a model
// trained on them has never needed that. A grouped dataset keeps its drawn graph and adds:
//
//   - groups of 2 to 40 rows on average (log-uniform), each row in a random group, so that
//     groups span the training and test rows;
//   - group-level features: a share of the columns takes, in every row, the value of its
//     group's first row;
//   - on most datasets, an identifier stored as a number: a column replaced by the group's
//     index in a random order, so that near identifiers are unrelated groups;
//   - a group effect on every target: a normal intercept per group, from a fifth to three
//     times the target's spread;
//   - on half of the datasets, a slope per group on one remaining feature, which half of
//     the time becomes a time index (the row's position within its group): series that
//     differ by group.
const (
	groupMinMeanSize = 2
	groupMaxMeanSize = 40
	groupIDFraction  = 0.7
	groupSlopeShare  = 0.5
	groupTimeShare   = 0.5
)

// groupStructure imposes a grouped design on a drawn dataset in place: cols are its
// features, ys its targets (before they become classes or a regression target). It returns
// the column that holds the group identifier, or -1; that column must not be cut into
// categories afterwards.
func groupStructure(r *rand.Rand, cols, ys [][]float64) (idCol int) {
	rows := len(ys[0])
	size := logUniform(r, groupMinMeanSize, groupMaxMeanSize)
	nGroups := min(max(int(math.Round(float64(rows)/size)), 2), max(rows/2, 2))
	group := make([]int, rows)
	first := make([]int, nGroups)
	for g := range first {
		first[g] = -1
	}
	for i := range group {
		g := r.IntN(nGroups)
		group[i] = g
		if first[g] < 0 {
			first[g] = i
		}
	}

	// Columns in a random order: the first few become group-level, then the identifier,
	// then the feature of the group slopes; the rest keep their row-level values.
	order := r.Perm(len(cols))
	nLevel := int(math.Round(uniform(r, 0.2, 0.8) * float64(len(cols))))
	for _, j := range order[:nLevel] {
		c := cols[j]
		for i := range c {
			c[i] = c[first[group[i]]]
		}
	}
	rest := order[nLevel:]
	idCol = -1
	if len(rest) > 0 && r.Float64() < groupIDFraction {
		idCol, rest = rest[0], rest[1:]
		ids := r.Perm(nGroups)
		for i, g := range group {
			cols[idCol][i] = float64(ids[g])
		}
	}
	slopeCol := -1
	if len(rest) > 0 && r.Float64() < groupSlopeShare {
		slopeCol = rest[0]
		if r.Float64() < groupTimeShare {
			seen := make([]int, nGroups)
			for i, g := range group {
				cols[slopeCol][i] = float64(seen[g])
				seen[g]++
			}
		}
	}

	for _, y := range ys {
		_, sy := preprocess.MeanStd(y)
		if !(sy > 0) {
			sy = 1
		}
		intercept := sy * logUniform(r, 0.2, 3)
		u := make([]float64, nGroups)
		for g := range u {
			u[g] = intercept * r.NormFloat64()
		}
		var slope []float64
		var xm, xs float64
		if slopeCol >= 0 {
			xm, xs = preprocess.MeanStd(cols[slopeCol])
			if xs > 0 {
				b := sy * logUniform(r, 0.2, 2)
				slope = make([]float64, nGroups)
				for g := range slope {
					slope[g] = b * r.NormFloat64()
				}
			}
		}
		for i, g := range group {
			y[i] += u[g]
			if slope != nil {
				y[i] += slope[g] * (cols[slopeCol][i] - xm) / xs
			}
		}
	}
	return idCol
}
