package data

import (
	"path/filepath"
	"strings"
)

// Load reads a table file, choosing the format by the file name's extension
// (case-insensitive): ".parquet" and ".pq" are read as Parquet (LoadParquet), anything else
// as CSV with a header row (LoadCSV). Both formats give the same Table for the same data, so
// a model trained from one can predict on the other (Options.Schema).
func Load(path string, opts Options) (*Table, error) {
	if IsParquetPath(path) {
		return LoadParquet(path, opts)
	}
	return LoadCSV(path, opts)
}

// IsParquetPath reports whether Load reads path as Parquet: its extension is ".parquet" or
// ".pq", in any case.
func IsParquetPath(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet", ".pq":
		return true
	}
	return false
}
