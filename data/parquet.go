package data

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/kiln-ml/kiln/data/csvio"
)

// LoadParquet reads a Parquet file into a Table; see ReadParquet.
func LoadParquet(path string, opts Options) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	t, err := ReadParquet(f, st.Size(), opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ReadParquet reads a Parquet file of size bytes into a Table.
//
// The file must be flat: every top-level column a leaf (a nested group or a repeated (list)
// column is an error naming it), and its column names are the table's header. Each value is
// turned into the text a CSV export of the same data would hold, and from there on loading is
// the one ReadCSV does (kind inference, missing values, the target column, opts.Schema), so a
// table loads the same from either format. The text is: null → "" (always missing, even
// when opts.Missing does not list ""); integers in
// decimal (unsigned ones as unsigned); doubles with the shortest representation that
// round-trips exactly, floats with the shortest that round-trips as float32 (so a float32 0.1
// reads as 0.1, as it would print), NaN → missing; booleans "true"/"false" (so a boolean
// column is categorical, as in CSV); strings, enums, JSON and plain byte arrays as text with
// surrounding spaces trimmed; decimals as exact decimal text; dates as 2006-01-02; timestamps
// as RFC 3339 (UTC when the file says they are adjusted to UTC). Strings equal to a
// missing-value marker (Options.Missing) are missing, as in CSV. Errors give the place as
// "row N", counting data rows from 1, where CSV says "line N".
//
// Memory is bounded by the file: before the Parquet library reads anything by a size the file
// declares, that size is checked against the file. The footer must fit in the file and be
// well-formed Thrift with every length within it; the table may declare at most 1024 cells
// (rows × columns) per byte of file (at least 2^20), a limit real files stay far below and a
// corrupt row count far exceeds; every column chunk must lie in the file and hold one value per
// row; every page must lie in its chunk; and every compressed page must decompress to exactly
// the size it declares, at most 8 MiB or 1024 times its compressed size; a page with a checksum
// must match it. Rows are then read in two passes, as in ReadCSV, and nulls, NaN and all text
// go through the same builder. Files with a column in another file, encrypted files and the LZO
// and Hadoop-LZ4 codecs are rejected; Snappy, gzip, Brotli, zstd and LZ4_RAW are read.
func ReadParquet(r io.ReaderAt, size int64, opts Options) (*Table, error) {
	src, err := openParquet(r, size)
	if err != nil {
		return nil, err
	}
	defer src.close()
	if opts.Missing != nil && !slices.Contains(opts.Missing, "") {
		// A null is missing whatever markers the caller lists for text; nulls are read as "".
		opts.Missing = append(slices.Clip(opts.Missing), "")
	}
	return build(src.header, src, "row", opts)
}

// parquetMagic starts and ends every Parquet file ("PARE" for an encrypted footer); the
// smallest file is the two magics and the 4-byte footer length.
const (
	parquetMagic   = "PAR1"
	parquetMinSize = 12
)

// corruptParquet turns a panic of the Parquet library into an error. The library can panic on
// malformed pages or schemas (it treats some as programmer errors), and a corrupt file must not
// take the CLI down, so every call into it that reads the file goes through a recover.
func corruptParquet(p any) error {
	return fmt.Errorf("data: corrupt Parquet file: %v", p)
}

// parquetSource reads the rows of a flat Parquet file as the text a CSV export would hold.
type parquetSource struct {
	header   []string
	conv     []func(parquet.Value) (string, error)
	groups   []parquet.RowGroup
	declared int64 // the row count the metadata declares

	g       int          // next row group to open
	rows    parquet.Rows // the open row group's rows, nil between groups
	buf     []parquet.Row
	pending []parquet.Row // rows read into buf and not yet returned
	row     int           // rows returned so far
	cells   []string
	filled  []bool
}

// openParquet checks the file's layout (see checkParquetLayout) and opens it. Nothing here
// allocates in proportion to a size the file declares before that size is checked against the
// file's own size.
func openParquet(r io.ReaderAt, size int64) (src *parquetSource, err error) {
	defer func() {
		if p := recover(); p != nil {
			src, err = nil, corruptParquet(p)
		}
	}()
	if size == 0 {
		return nil, errors.New("data: empty input: the file has 0 bytes, not a Parquet file")
	}
	var magic [4]byte
	if n, _ := r.ReadAt(magic[:], 0); n < len(magic) || (string(magic[:]) != parquetMagic && string(magic[:]) != "PARE") {
		return nil, errors.New("data: not a Parquet file (it does not start with the Parquet magic bytes \"PAR1\")")
	}
	if string(magic[:]) == "PARE" {
		return nil, errors.New("data: encrypted Parquet files are not supported")
	}
	if size < parquetMinSize {
		return nil, fmt.Errorf("data: truncated Parquet file: %d bytes", size)
	}
	if err := checkParquetFooter(r, size); err != nil {
		return nil, err
	}
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("data: truncated or corrupt Parquet file: %w", err)
	}

	cols := f.Root().Columns()
	if len(cols) == 0 {
		return nil, errors.New("data: the Parquet file has no columns")
	}
	src = &parquetSource{header: make([]string, len(cols)), conv: make([]func(parquet.Value) (string, error), len(cols))}
	for j, c := range cols {
		src.header[j] = strings.TrimSpace(c.Name())
		if src.header[j] == "" {
			src.header[j] = fmt.Sprintf("column_%d", j+1)
		}
		if !c.Leaf() {
			return nil, fmt.Errorf("data: column %d (%s) is nested (a group, list or map); only flat tables (one value per cell) can be loaded", j+1, csvio.Quote(src.header[j]))
		}
		if c.Repeated() {
			return nil, fmt.Errorf("data: column %d (%s) is repeated (a list); only flat tables (one value per cell) can be loaded", j+1, csvio.Quote(src.header[j]))
		}
		if src.conv[j], err = parquetConverter(c.Type()); err != nil {
			return nil, fmt.Errorf("data: column %d (%s): %w", j+1, csvio.Quote(src.header[j]), err)
		}
		if c.Index() != j {
			return nil, fmt.Errorf("data: corrupt Parquet file: column %d is leaf %d", j+1, c.Index())
		}
	}
	if f.NumRows() == 0 {
		return nil, errors.New("data: the Parquet file has no rows")
	}
	if err := checkParquetLayout(r, size, f, len(cols)); err != nil {
		return nil, err
	}
	src.declared = f.NumRows()
	src.groups = f.RowGroups()
	src.buf = make([]parquet.Row, 64)
	src.cells = make([]string, len(cols))
	src.filled = make([]bool, len(cols))
	return src, nil
}

func (s *parquetSource) next() (cells []string, place int, err error) {
	defer func() {
		if p := recover(); p != nil {
			cells, place, err = nil, 0, corruptParquet(p)
		}
	}()
	for len(s.pending) == 0 {
		if s.rows == nil {
			if s.g == len(s.groups) {
				if int64(s.row) != s.declared {
					return nil, 0, fmt.Errorf("data: corrupt Parquet file: the metadata declares %d rows, the row groups hold %d", s.declared, s.row)
				}
				return nil, 0, io.EOF
			}
			s.rows = s.groups[s.g].Rows()
			s.g++
		}
		n, rerr := s.rows.ReadRows(s.buf)
		s.pending = s.buf[:n]
		if errors.Is(rerr, io.EOF) {
			cerr := s.rows.Close()
			s.rows = nil
			if cerr != nil {
				return nil, 0, fmt.Errorf("data: corrupt Parquet file: %w", cerr)
			}
		} else if rerr != nil {
			return nil, 0, fmt.Errorf("data: corrupt Parquet file: %w", rerr)
		} else if n == 0 {
			return nil, 0, errors.New("data: corrupt Parquet file: a row group stops before its end")
		}
	}
	row := s.pending[0]
	s.pending = s.pending[1:]
	s.row++
	clear(s.cells) // "" for nulls: ReadParquet makes sure it is a missing-value marker
	clear(s.filled)
	for _, v := range row {
		c := v.Column()
		if c < 0 || c >= len(s.cells) || s.filled[c] {
			return nil, 0, fmt.Errorf("data: corrupt Parquet file: row %d has a stray value of column %d", s.row, c)
		}
		s.filled[c] = true
		if v.IsNull() {
			continue
		}
		if s.cells[c], err = s.conv[c](v); err != nil {
			return nil, 0, fmt.Errorf("data: row %d, column %d (%s): %w", s.row, c+1, csvio.Quote(s.header[c]), err)
		}
	}
	for c, ok := range s.filled {
		if !ok {
			return nil, 0, fmt.Errorf("data: corrupt Parquet file: row %d has no value of column %d", s.row, c+1)
		}
	}
	return s.cells, s.row, nil
}

func (s *parquetSource) rewind() error {
	if err := s.close(); err != nil {
		return err
	}
	s.g, s.pending, s.row = 0, nil, 0
	return nil
}

func (s *parquetSource) close() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = corruptParquet(p)
		}
	}()
	if s.rows != nil {
		err = s.rows.Close()
		s.rows = nil
	}
	if err != nil {
		return fmt.Errorf("data: corrupt Parquet file: %w", err)
	}
	return nil
}

// parquetConverter returns the function that writes a non-null value of type t as the text a
// CSV export would hold; see ReadParquet. Types with no sensible text (INT96, TIME, FLOAT16,
// geometry, variant) are an error, so that they are not silently loaded as junk categories.
func parquetConverter(t parquet.Type) (func(parquet.Value) (string, error), error) {
	var lt format.LogicalTypeValue
	if l := t.LogicalType(); l != nil {
		lt = l.Value
	}
	kind := t.Kind()
	switch lt := lt.(type) {
	case nil, *format.StringType, *format.EnumType, *format.JsonType, *format.BsonType, *format.IntType, *format.NullType:
		// plain physical types below
	case *format.DecimalType:
		scale := int(lt.Scale)
		return func(v parquet.Value) (string, error) {
			var u big.Int
			switch v.Kind() {
			case parquet.Int32:
				u.SetInt64(int64(v.Int32()))
			case parquet.Int64:
				u.SetInt64(v.Int64())
			default: // big-endian two's complement
				b := v.ByteArray()
				u.SetBytes(b)
				if len(b) > 0 && b[0]&0x80 != 0 {
					u.Sub(&u, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
				}
			}
			return decimalText(&u, scale), nil
		}, nil
	case *format.DateType:
		return func(v parquet.Value) (string, error) {
			return time.Unix(int64(v.Int32())*86400, 0).UTC().Format(time.DateOnly), nil
		}, nil
	case *format.TimestampType:
		utc := lt.IsAdjustedToUTC
		var unit time.Duration = time.Millisecond
		if lt.Unit.Value != nil {
			unit = lt.Unit.Value.Duration()
		}
		return func(v parquet.Value) (string, error) {
			x := v.Int64()
			var ts time.Time
			switch unit {
			case time.Nanosecond:
				ts = time.Unix(0, x)
			case time.Microsecond:
				ts = time.UnixMicro(x)
			default:
				ts = time.UnixMilli(x)
			}
			ts = ts.UTC()
			if utc {
				return ts.Format(time.RFC3339Nano), nil
			}
			return ts.Format("2006-01-02T15:04:05.999999999"), nil
		}, nil
	case *format.UUIDType:
		return func(v parquet.Value) (string, error) {
			b := v.ByteArray()
			if len(b) != 16 {
				return "", fmt.Errorf("UUID of %d bytes", len(b))
			}
			return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
		}, nil
	default:
		return nil, fmt.Errorf("Parquet type %s is not supported; convert the column to a number or a string", t)
	}

	unsigned := false
	if it, ok := lt.(*format.IntType); ok {
		unsigned = !it.IsSigned
	}
	switch kind {
	case parquet.Boolean:
		return func(v parquet.Value) (string, error) { return strconv.FormatBool(v.Boolean()), nil }, nil
	case parquet.Int32:
		if unsigned {
			return func(v parquet.Value) (string, error) { return strconv.FormatUint(uint64(v.Uint32()), 10), nil }, nil
		}
		return func(v parquet.Value) (string, error) { return strconv.FormatInt(int64(v.Int32()), 10), nil }, nil
	case parquet.Int64:
		if unsigned {
			return func(v parquet.Value) (string, error) { return strconv.FormatUint(v.Uint64(), 10), nil }, nil
		}
		return func(v parquet.Value) (string, error) { return strconv.FormatInt(v.Int64(), 10), nil }, nil
	case parquet.Float:
		return func(v parquet.Value) (string, error) {
			x := v.Float()
			if x != x { // NaN: missing, as pandas writes it
				return "", nil
			}
			return strconv.FormatFloat(float64(x), 'g', -1, 32), nil
		}, nil
	case parquet.Double:
		return func(v parquet.Value) (string, error) {
			x := v.Double()
			if math.IsNaN(x) {
				return "", nil
			}
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		}, nil
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return func(v parquet.Value) (string, error) { return strings.TrimSpace(string(v.ByteArray())), nil }, nil
	}
	return nil, fmt.Errorf("Parquet type %s is not supported; convert the column to a number or a string", t)
}

// decimalText writes unscaled×10^-scale exactly, e.g. (-12345, 2) → "-123.45".
func decimalText(unscaled *big.Int, scale int) string {
	s := new(big.Int).Abs(unscaled).String()
	sign := ""
	if unscaled.Sign() < 0 {
		sign = "-"
	}
	if scale <= 0 {
		return sign + s + strings.Repeat("0", -scale)
	}
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	return sign + s[:len(s)-scale] + "." + s[len(s)-scale:]
}
