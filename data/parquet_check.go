package data

import (
	"io"

	"github.com/parquet-go/parquet-go"
)

func checkParquetFooter(r io.ReaderAt, size int64) error { return nil }

func checkParquetLayout(r io.ReaderAt, size int64, f *parquet.File, ncols int) error { return nil }
