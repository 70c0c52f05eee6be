package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadPicksFormatByExtension(t *testing.T) {
	dir := t.TempDir()
	pq := writeParquet(t, mixedRows)
	want := read(t, mixedCSV, Options{})
	files := map[string][]byte{
		"train.parquet": pq,
		"train.PQ":      pq,
		"train.csv":     []byte(mixedCSV),
		"train.txt":     []byte(mixedCSV), // anything that is not Parquet is CSV
		"wrong.parquet": []byte(mixedCSV),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"train.parquet", "train.PQ", "train.csv", "train.txt"} {
		got, err := Load(filepath.Join(dir, name), Options{})
		if err != nil {
			t.Fatalf("Load(%s): %v", name, err)
		}
		sameTable(t, got, want)
	}
	// CSV text named .parquet is read as Parquet, and the error says so and names the file.
	_, err := Load(filepath.Join(dir, "wrong.parquet"), Options{})
	if err == nil || !strings.Contains(err.Error(), "not a Parquet file") || !strings.Contains(err.Error(), "wrong.parquet") {
		t.Errorf("Load(wrong.parquet) error = %v, want a not-Parquet error naming the file", err)
	}
	if _, err := Load(filepath.Join(dir, "absent.parquet"), Options{}); err == nil {
		t.Error("Load of a missing Parquet file succeeded")
	}
}

func TestIsParquetPath(t *testing.T) {
	for path, want := range map[string]bool{
		"a.parquet": true, "dir.csv/b.PARQUET": true, "c.pq": true, "d.Pq": true,
		"e.csv": false, "f.parquet.csv": false, "g": false, "parquet": false, "h.pqt": false,
	} {
		if got := IsParquetPath(path); got != want {
			t.Errorf("IsParquetPath(%q) = %v, want %v", path, got, want)
		}
	}
}
