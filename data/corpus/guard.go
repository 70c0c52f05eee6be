package corpus

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kiln-ml/kiln/data/csvio"
)

// Guard refuses corpus tables that are copies of evaluation tables, so that pretraining
// cannot see the data it is measured on.
type Guard struct {
	// RowCap is the number of rows a corpus builder cuts larger tables to (NewGuard sets
	// DefaultRowCap): a corpus table of exactly RowCap rows matches an evaluation table of
	// more rows.
	RowCap int
	refs   []evalTable
}

// DefaultRowCap is the row cap of the shared pretraining corpus (tables over 5000 rows were
// cut to a random 5000).
const DefaultRowCap = 5000

// evalTable is what the guard keeps of one evaluation table.
type evalTable struct {
	path     string
	cols     int
	rows     int
	features []string // lower-cased header names, without a last column named "target"
}

// NewGuard reads the header and counts the rows of every *.csv file in dirs (the evaluation
// tables; their contents are not kept). A directory that cannot be read is an error.
func NewGuard(dirs ...string) (*Guard, error) {
	g := &Guard{RowCap: DefaultRowCap}
	for _, dir := range dirs {
		paths, err := filepath.Glob(filepath.Join(dir, "*.csv"))
		if err != nil {
			return nil, fmt.Errorf("corpus: guard: %w", err)
		}
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("corpus: guard: %w", err)
		}
		slices.Sort(paths)
		for _, p := range paths {
			e, err := readEval(p)
			if err != nil {
				return nil, fmt.Errorf("corpus: guard: %s: %w", p, err)
			}
			g.refs = append(g.refs, e)
		}
	}
	return g, nil
}

// Len returns the number of evaluation tables the guard knows.
func (g *Guard) Len() int { return len(g.refs) }

func readEval(path string) (evalTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return evalTable{}, err
	}
	defer f.Close()
	cr := csvio.NewReader(f)
	header, _, err := cr.Read()
	if err != nil {
		return evalTable{}, err
	}
	e := evalTable{path: path, cols: len(header)}
	names := lowerAll(header)
	if n := len(names); n > 1 && names[n-1] == "target" {
		names = names[:n-1]
	}
	e.features = names
	for {
		rec, _, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return evalTable{}, err
		}
		if len(rec) == 1 && rec[0] == "" {
			continue
		}
		e.rows++
	}
	return e, nil
}

func lowerAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(strings.TrimSpace(s))
	}
	return out
}

// Check returns an error naming the evaluation table that a corpus table with this header
// and number of data rows copies, or nil. A table copies an evaluation table when its
// shape and column names match: the same number of columns, every feature name of the
// evaluation table among its column names (case-insensitive, any order; the evaluation
// table's last column, when named "target", is the label and may be named otherwise in the
// copy), and the same number of rows, or RowCap rows when the evaluation table has more
// (a copy cut by the corpus builder). Generic names (V1, V2, …) make the rule match
// unrelated tables of equal shape too; such a table is refused all the same, as the
// guard cannot tell a renamed copy from a coincidence without reading the contents.
func (g *Guard) Check(header []string, rows int) error {
	if g == nil {
		return nil
	}
	have := map[string]bool{}
	for _, n := range lowerAll(header) {
		have[n] = true
	}
	for _, e := range g.refs {
		if e.cols != len(header) || (rows != e.rows && (g.RowCap <= 0 || e.rows <= g.RowCap || rows != g.RowCap)) {
			continue
		}
		all := true
		for _, n := range e.features {
			if !have[n] {
				all = false
				break
			}
		}
		if all {
			return fmt.Errorf("refused: its columns and shape (%d rows × %d columns) match the evaluation table %s (%d rows)",
				rows, len(header), e.path, e.rows)
		}
	}
	return nil
}
