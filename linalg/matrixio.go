package linalg

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/kiln-ml/kiln/data/csvio"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// Array is an n-dimensional array read from a file: its shape and row-major values in the
// file's precision (exactly one of F32 and F64 is set).
type Array struct {
	Shape []int
	DType tensor.DType
	F32   []float32
	F64   []float64
}

// Len is the number of elements.
func (a *Array) Len() int {
	if a.F32 != nil {
		return len(a.F32)
	}
	return len(a.F64)
}

// At returns element i as float64.
func (a *Array) At(i int) float64 {
	if a.F32 != nil {
		return float64(a.F32[i])
	}
	return a.F64[i]
}

// checkFinite reports the first non-finite element with its multi-index.
func (a *Array) checkFinite() error {
	for i := 0; i < a.Len(); i++ {
		if v := a.At(i); !finite(v) {
			return fmt.Errorf("non-finite entry %v at index %v", v, unravel(i, a.Shape))
		}
	}
	return nil
}

func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		idx[k] = i % shape[k]
		i /= shape[k]
	}
	return idx
}

// Tensor copies the array to dev in its own dtype.
func (a *Array) Tensor(dev device.Device) (t *tensor.Tensor, err error) {
	err = tensor.Catch(func() error {
		if a.F32 != nil {
			t = tensor.FromFloat32(dev, a.F32, a.Shape...)
		} else {
			t = tensor.FromFloat64(dev, a.F64, a.Shape...)
		}
		return nil
	})
	return t, err
}

// ---------------------------------------------------------------------------------------
// .npy (numpy's format, NEP 1: "A simple file format for NumPy arrays")

var npyMagic = []byte("\x93NUMPY")

// maxNPYBytes bounds the data a header may announce (64 GiB): a corrupt shape is reported
// as an error instead of an attempt to allocate it.
const maxNPYBytes = 1 << 36

// ReadNPY reads a .npy stream holding a C-order float32 or float64 array of any rank,
// little- or big-endian. Other dtypes, Fortran order, truncated data and malformed headers
// are errors.
func ReadNPY(r io.Reader) (*Array, error) {
	br := bufio.NewReader(r)
	pre := make([]byte, 8)
	if _, err := io.ReadFull(br, pre); err != nil {
		return nil, fmt.Errorf("npy: file too short for the magic string: %w", err)
	}
	if !bytes.Equal(pre[:6], npyMagic) {
		return nil, errors.New("npy: not a .npy file (missing the \\x93NUMPY magic string)")
	}
	major := pre[6]
	var hlen int
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("npy: truncated header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("npy: truncated header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
		if hlen > 1<<20 {
			return nil, fmt.Errorf("npy: header of %d bytes is implausibly long", hlen)
		}
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d.%d (want 1.0, 2.0 or 3.0)", major, pre[7])
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("npy: truncated header (want %d bytes): %w", hlen, err)
	}
	h, err := parseNPYHeader(string(hdr))
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	if h.fortran {
		return nil, errors.New("npy: Fortran-order arrays are not supported; save a C-order array (np.ascontiguousarray)")
	}
	var size int
	var order binary.ByteOrder = binary.LittleEndian
	switch h.descr {
	case "<f8", "=f8":
		size = 8
	case ">f8":
		size, order = 8, binary.BigEndian
	case "<f4", "=f4":
		size = 4
	case ">f4":
		size, order = 4, binary.BigEndian
	default:
		return nil, fmt.Errorf("npy: unsupported dtype %s: want float32 or float64 ('<f4', '<f8')", csvio.Quote(h.descr))
	}
	n := 1
	for _, d := range h.shape {
		if d != 0 && n > maxNPYBytes/size/d {
			return nil, fmt.Errorf("npy: shape %v is too large", h.shape)
		}
		n *= d
	}
	out := &Array{Shape: h.shape}
	if size == 8 {
		out.DType = tensor.Float64
		out.F64, err = readNPYData(br, n, 8, func(b []byte) float64 { return math.Float64frombits(order.Uint64(b)) })
	} else {
		out.DType = tensor.Float32
		out.F32, err = readNPYData(br, n, 4, func(b []byte) float32 { return math.Float32frombits(order.Uint32(b)) })
	}
	if err != nil {
		return nil, fmt.Errorf("npy: %w (shape %v needs %d bytes)", err, h.shape, n*size)
	}
	return out, nil
}

// npyChunk is how many bytes readNPYData reads at a time.
const npyChunk = 64 << 10

// readNPYData decodes n values of size bytes each from r. The result grows with the data read
// (doubling, up to n) instead of being allocated for n at once, so that a header announcing
// more than the input holds fails on the short read after allocating about what the input had,
// never what the header claimed; the text is decoded a chunk at a time, never held whole.
func readNPYData[T float32 | float64](r io.Reader, n, size int, decode func([]byte) T) ([]T, error) {
	out := make([]T, 0, min(n, npyChunk/size))
	buf := make([]byte, npyChunk)
	for len(out) < n {
		k := min(n-len(out), npyChunk/size)
		got, err := io.ReadFull(r, buf[:k*size])
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("truncated data: the file has %d bytes of it", len(out)*size+got)
			}
			return nil, fmt.Errorf("reading data: %w", err)
		}
		if cap(out)-len(out) < k {
			grown := make([]T, len(out), min(n, max(2*cap(out), len(out)+k)))
			copy(grown, out)
			out = grown
		}
		for i := 0; i < k*size; i += size {
			out = append(out, decode(buf[i:i+size]))
		}
	}
	return out, nil
}

type npyHeader struct {
	descr   string
	fortran bool
	shape   []int
}

// parseNPYHeader reads the Python dict literal of a .npy header, e.g.
// {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }.
func parseNPYHeader(s string) (*npyHeader, error) {
	s = strings.TrimRightFunc(s, unicode.IsSpace)
	p := &pyLit{s: s}
	v, err := p.value()
	if err != nil {
		return nil, fmt.Errorf("malformed header %s: %w", quoteHeader(s), err)
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("malformed header %s: trailing text", quoteHeader(s))
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("malformed header %s: not a dict", quoteHeader(s))
	}
	h := &npyHeader{}
	descr, ok := d["descr"].(string)
	if !ok {
		if _, isList := d["descr"].([]any); isList {
			return nil, errors.New("structured dtypes are not supported: want float32 or float64")
		}
		return nil, fmt.Errorf("header %s has no string 'descr'", quoteHeader(s))
	}
	h.descr = descr
	f, ok := d["fortran_order"].(bool)
	if !ok {
		return nil, fmt.Errorf("header %s has no boolean 'fortran_order'", quoteHeader(s))
	}
	h.fortran = f
	shape, ok := d["shape"].([]any)
	if !ok {
		return nil, fmt.Errorf("header %s has no tuple 'shape'", quoteHeader(s))
	}
	for _, e := range shape {
		n, ok := e.(int)
		if !ok || n < 0 {
			return nil, fmt.Errorf("header %s: shape entries must be non-negative integers", quoteHeader(s))
		}
		h.shape = append(h.shape, n)
	}
	return h, nil
}

// quoteHeader quotes a .npy header for an error message: whole when it has the size numpy
// writes (padded to 64 or 128 bytes), cut when it is longer.
func quoteHeader(s string) string { return csvio.QuoteMax(s, 160) }

// pyLit parses the subset of Python literals that .npy headers use: dicts, tuples, lists,
// quoted strings, integers, True and False.
type pyLit struct {
	s     string
	i     int
	depth int // brackets open around the value being parsed
}

// maxPyLitDepth bounds the nesting of brackets in a header: real headers nest two deep (the
// dict and the shape tuple), and a bound keeps a header of a million brackets from recursing a
// million frames deep.
const maxPyLitDepth = 16

func (p *pyLit) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *pyLit) value() (any, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("unexpected end")
	}
	if c := p.s[p.i]; c == '{' || c == '(' || c == '[' {
		if p.depth == maxPyLitDepth {
			return nil, fmt.Errorf("brackets nested more than %d deep", maxPyLitDepth)
		}
		p.depth++
		defer func() { p.depth-- }()
	}
	switch c := p.s[p.i]; {
	case c == '{':
		p.i++
		d := map[string]any{}
		for {
			p.space()
			if p.i < len(p.s) && p.s[p.i] == '}' {
				p.i++
				return d, nil
			}
			k, err := p.value()
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, errors.New("dict key is not a string")
			}
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return nil, errors.New("missing ':'")
			}
			p.i++
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			d[ks] = v
			if err := p.sep('}'); err != nil {
				return nil, err
			}
		}
	case c == '(' || c == '[':
		end := byte(')')
		if c == '[' {
			end = ']'
		}
		p.i++
		var items []any
		for {
			p.space()
			if p.i < len(p.s) && p.s[p.i] == end {
				p.i++
				return items, nil
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			items = append(items, v)
			if err := p.sep(end); err != nil {
				return nil, err
			}
		}
	case c == '\'' || c == '"':
		j := strings.IndexByte(p.s[p.i+1:], c)
		if j < 0 {
			return nil, errors.New("unterminated string")
		}
		v := p.s[p.i+1 : p.i+1+j]
		p.i += j + 2
		return v, nil
	case c >= '0' && c <= '9':
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(p.s[p.i:j])
		if err != nil {
			return nil, err
		}
		p.i = j
		// Python 2 era headers may write longs as 3L.
		if p.i < len(p.s) && p.s[p.i] == 'L' {
			p.i++
		}
		return n, nil
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	}
	return nil, fmt.Errorf("unexpected %q", p.s[p.i:min(p.i+10, len(p.s))])
}

// sep consumes a ',' or sees the closing bracket.
func (p *pyLit) sep(end byte) error {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ',' {
		p.i++
		return nil
	}
	if p.i < len(p.s) && p.s[p.i] == end {
		return nil
	}
	return fmt.Errorf("expected ',' or %q", end)
}

// WriteNPY writes a C-order array in .npy format version 1.0 (little-endian), data being a
// []float32 or []float64 of prod(shape) elements. The header is padded with spaces so the
// data starts at a multiple of 64 bytes, as numpy writes it.
func WriteNPY(w io.Writer, shape []int, data any) error {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("npy: negative extent in shape %v", shape)
		}
		n *= d
	}
	var descr string
	var body []byte
	switch v := data.(type) {
	case []float64:
		descr, body = "<f8", make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(body[8*i:], math.Float64bits(x))
		}
		if len(v) != n {
			return fmt.Errorf("npy: %d values for shape %v", len(v), shape)
		}
	case []float32:
		descr, body = "<f4", make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(body[4*i:], math.Float32bits(x))
		}
		if len(v) != n {
			return fmt.Errorf("npy: %d values for shape %v", len(v), shape)
		}
	default:
		return fmt.Errorf("npy: cannot write %T (want []float32 or []float64)", data)
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	sh := strings.Join(parts, ", ")
	if len(shape) == 1 {
		sh += ","
	}
	hdr := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, sh)
	pad := 64 - (len(npyMagic)+2+2+len(hdr)+1)%64
	if pad == 64 {
		pad = 0
	}
	hdr += strings.Repeat(" ", pad) + "\n"
	var pre bytes.Buffer
	pre.Write(npyMagic)
	pre.Write([]byte{1, 0})
	var hl [2]byte
	binary.LittleEndian.PutUint16(hl[:], uint16(len(hdr)))
	pre.Write(hl[:])
	pre.WriteString(hdr)
	if _, err := w.Write(pre.Bytes()); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// ---------------------------------------------------------------------------------------
// CSV

// ReadCSVMatrix reads a numeric matrix from CSV without a header: one row per line, the
// same number of comma-separated numbers on every line, read with package data/csvio, the
// reader the table loaders use. Numbers follow csvio's decimal grammar (no hexadecimal, digit
// underscores or infinities); NaN and infinity spellings are reported as non-finite values.
// Ragged rows, fields that are not numbers (a header line included) and values beyond the
// float64 range are errors naming the line and column, with long fields cut by csvio.Quote.
func ReadCSVMatrix(r io.Reader) (*Array, error) {
	cr := csvio.NewReader(r)
	var data []float64
	cols := -1
	rows := 0
	for {
		rec, line, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("csv: %w", err)
		}
		if cols < 0 {
			cols = len(rec)
		} else if len(rec) != cols {
			return nil, fmt.Errorf("csv: ragged rows: line %d has %d fields, the first row has %d", line, len(rec), cols)
		}
		for j, f := range rec {
			v, err := csvio.ParseNumber(f)
			switch {
			case err == nil:
				data = append(data, v)
				continue
			case errors.Is(err, csvio.ErrRange):
				return nil, fmt.Errorf("csv: line %d, column %d: %s is beyond the float64 range", line, j+1, csvio.Quote(f))
			case nonFiniteSpelling(f):
				return nil, fmt.Errorf("csv: line %d, column %d: non-finite value %s (matrix entries must be finite numbers)", line, j+1, csvio.Quote(f))
			}
			hint := ""
			if rows == 0 {
				hint = " (matrix CSV files have no header line)"
			}
			return nil, fmt.Errorf("csv: line %d, column %d: %s is not a number%s", line, j+1, csvio.Quote(f), hint)
		}
		rows++
	}
	if rows == 0 {
		return nil, errors.New("csv: no rows")
	}
	return &Array{Shape: []int{rows, cols}, DType: tensor.Float64, F64: data}, nil
}

// nonFiniteSpelling reports whether s spells NaN or an infinity the way numpy and Go print
// them ("nan", "inf", "-Infinity", in any case), so that the error can say what is wrong.
func nonFiniteSpelling(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return strings.EqualFold(s, "nan") || strings.EqualFold(s, "inf") || strings.EqualFold(s, "infinity")
}

// WriteCSVMatrix writes a row-major rows×cols matrix as CSV with the shortest decimal
// representation that reads back to the same float64.
func WriteCSVMatrix(w io.Writer, data []float64, rows, cols int) error {
	if len(data) != rows*cols {
		return fmt.Errorf("csv: %d values for a %d×%d matrix", len(data), rows, cols)
	}
	bw := bufio.NewWriter(w)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			if j > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(strconv.FormatFloat(data[i*cols+j], 'g', -1, 64))
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// ---------------------------------------------------------------------------------------
// Files

// LoadArray reads a .npy file (any rank) or a .csv file (a matrix), chosen by extension,
// and rejects non-finite entries.
func LoadArray(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var a *Array
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".npy":
		a, err = ReadNPY(f)
	case ".csv":
		a, err = ReadCSVMatrix(f)
	default:
		return nil, fmt.Errorf("%s: unknown matrix file type %q (want .npy or .csv)", path, ext)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := a.checkFinite(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// LoadMatrix reads a 2-D .npy or .csv file onto dev (a .npy keeps its dtype, CSV gives
// float64).
func LoadMatrix(path string, dev device.Device) (*tensor.Tensor, error) {
	a, err := LoadArray(path)
	if err != nil {
		return nil, err
	}
	if len(a.Shape) != 2 {
		return nil, fmt.Errorf("%s: want a matrix, the file holds an array of shape %v", path, a.Shape)
	}
	if a.Shape[0] == 0 || a.Shape[1] == 0 {
		return nil, fmt.Errorf("%s: the matrix is empty (%d×%d)", path, a.Shape[0], a.Shape[1])
	}
	return a.Tensor(dev)
}
