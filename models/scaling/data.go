package scaling

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Run is one training run: N parameters trained on D tokens reached final loss Loss.
type Run struct {
	N    float64 `json:"params"`
	D    float64 `json:"tokens"`
	Loss float64 `json:"loss"`
}

// CSVOptions names the columns ReadCSV takes runs from. Exactly one of CCol (training FLOPs,
// from which D = C/(6N)) and DCol (tokens) must be set.
type CSVOptions struct {
	NCol    string // parameter count
	CCol    string // training compute in FLOPs; D = C/(6N)
	DCol    string // training tokens
	LossCol string // final loss
}

// DefaultCSVOptions matches the columns of the data Besiroglu et al. 2024 extracted from
// Hoffmann et al.'s Figure 4 (chinchilla_svg_extracted.csv): "Model Size", "Training FLOP",
// "loss".
func DefaultCSVOptions() CSVOptions {
	return CSVOptions{NCol: "Model Size", CCol: "Training FLOP", LossCol: "loss"}
}

// ReadCSV reads runs from a CSV file with a header row. Every row must hold positive, finite
// N, D (or C) and loss; the first bad row is reported with its line number, because a silently
// skipped row would change the fit.
func ReadCSV(r io.Reader, opt CSVOptions) ([]Run, error) {
	if (opt.CCol == "") == (opt.DCol == "") {
		return nil, errors.New("scaling csv: give exactly one of the compute column and the tokens column")
	}
	if opt.NCol == "" || opt.LossCol == "" {
		return nil, errors.New("scaling csv: the parameter-count and loss columns must be named")
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("scaling csv: empty file")
	}
	if err != nil {
		return nil, fmt.Errorf("scaling csv: header: %w", err)
	}
	index := map[string]int{}
	for i, h := range header {
		index[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	col := func(name string) (int, error) {
		i, ok := index[name]
		if !ok {
			return 0, fmt.Errorf("scaling csv: no column %q (have %s)", name, quoteAll(header))
		}
		return i, nil
	}
	nIdx, err := col(opt.NCol)
	if err != nil {
		return nil, err
	}
	lIdx, err := col(opt.LossCol)
	if err != nil {
		return nil, err
	}
	xName := opt.DCol
	if opt.CCol != "" {
		xName = opt.CCol
	}
	xIdx, err := col(xName)
	if err != nil {
		return nil, err
	}
	var runs []Run
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("scaling csv: %w", err)
		}
		get := func(i int, name string) (float64, error) {
			if i >= len(rec) {
				return 0, fmt.Errorf("scaling csv: line %d: missing column %q", line, name)
			}
			s := strings.TrimSpace(rec[i])
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return 0, fmt.Errorf("scaling csv: line %d: column %q: %q is not a number", line, name, s)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
				return 0, fmt.Errorf("scaling csv: line %d: column %q: %v must be positive and finite", line, name, v)
			}
			return v, nil
		}
		n, err := get(nIdx, opt.NCol)
		if err != nil {
			return nil, err
		}
		x, err := get(xIdx, xName)
		if err != nil {
			return nil, err
		}
		loss, err := get(lIdx, opt.LossCol)
		if err != nil {
			return nil, err
		}
		d := x
		if opt.CCol != "" {
			d = x / (6 * n) // C ≈ 6·N·D (Kaplan et al. 2020, Section 2.1)
		}
		runs = append(runs, Run{N: n, D: d, Loss: loss})
	}
	if len(runs) == 0 {
		return nil, errors.New("scaling csv: no data rows")
	}
	return runs, nil
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// ValidateRuns checks that every run has positive, finite N, D and loss, and that there are
// at least as many runs as the law has parameters (five).
func ValidateRuns(runs []Run) error {
	if len(runs) < numParams {
		return fmt.Errorf("scaling fit: %d runs cannot determine the law's %d parameters (need at least %d)", len(runs), numParams, numParams)
	}
	for i, r := range runs {
		for _, f := range []struct {
			name string
			v    float64
		}{{"N", r.N}, {"D", r.D}, {"loss", r.Loss}} {
			if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v <= 0 {
				return fmt.Errorf("scaling fit: run %d: %s = %v must be positive and finite", i, f.name, f.v)
			}
		}
	}
	return nil
}

// DropHighest returns the runs without the k with the highest loss, in their original order.
// Besiroglu et al. 2024 drop the five highest losses of the extracted data, which
// sit far above the rest and come from the smallest, under-trained models.
func DropHighest(runs []Run, k int) ([]Run, error) {
	if k < 0 {
		return nil, fmt.Errorf("drop-highest must be non-negative, got %d", k)
	}
	if k >= len(runs) {
		return nil, fmt.Errorf("drop-highest %d would drop all %d runs", k, len(runs))
	}
	idx := make([]int, len(runs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return runs[idx[i]].Loss > runs[idx[j]].Loss })
	drop := make(map[int]bool, k)
	for _, i := range idx[:k] {
		drop[i] = true
	}
	out := make([]Run, 0, len(runs)-k)
	for i, r := range runs {
		if !drop[i] {
			out = append(out, r)
		}
	}
	return out, nil
}
