package corpus

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/internal/shareddata"
)

// TestSharedCorpus loads every table of the shared pretraining corpus with the guard built
// from the shared evaluation tables: the guard must refuse each evaluation table itself and
// none of the corpus (which was built without them), and every corpus table must load.
func TestSharedCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 58 MB")
	}
	dir := shareddata.Require(t, "corpus")
	tabular := shareddata.Require(t, "tabular")
	g, err := NewGuard(tabular, shareddata.Require(t, "regression"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"iris.csv", "zoo.csv", "house_votes_84.csv"} {
		_, err := LoadFile(filepath.Join(tabular, name), DefaultLimits(), 0, g)
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s as a corpus table: err = %v, want a refusal", name, err)
		}
	}
	var warnings []string
	c, err := Open(dir, Options{Guard: g, Warn: func(m string) { warnings = append(warnings, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() < 500 {
		t.Fatalf("%d tables, want the corpus's 530", c.Len())
	}
	cells := 0
	for i := 0; i < c.Len(); i++ {
		if tab, err := c.Table(i); err == nil {
			cells += tab.Cells()
		}
	}
	for _, w := range warnings {
		t.Error(w)
	}
	t.Logf("%d tables, %d cells kept", c.Len(), cells)
}
