package wine

import (
	"bytes"
	"testing"

	"github.com/kiln-ml/kiln/data"
)

// The embedded file loads as the dataset the README describes.
func TestEmbeddedCSV(t *testing.T) {
	tab, err := data.ReadCSV(bytes.NewReader(CSV), data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tab.Rows() != 178 || tab.NumFeatures() != 13 || tab.MissingCount() != 0 {
		t.Fatalf("rows %d features %d missing %d", tab.Rows(), tab.NumFeatures(), tab.MissingCount())
	}
	want := []int{59, 71, 48}
	for c, n := range tab.ClassCounts() {
		if n != want[c] {
			t.Errorf("class %s: %d rows, want %d", tab.Classes[c], n, want[c])
		}
	}
}
