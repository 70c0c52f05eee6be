// Package checkpoint reads and writes named tensors as safetensors files (the format of
// Hugging Face's safetensors: an 8-byte little-endian header length, a JSON header with each
// tensor's dtype, shape and byte range plus free-form string metadata, then the raw
// little-endian data), using github.com/nlpodyssey/safetensors for the format itself.
//
// Writes are atomic: the file is written to a temporary name in the same directory, synced,
// renamed over the target and the directory synced, so a run killed mid-write leaves either
// the old checkpoint or the new one, never a torn file. Reads validate everything a corrupt
// or mismatched file can get wrong and say what it is: the header is bounded (its length,
// the number of tensors, ranks and extents) before it is decoded, so a hostile file cannot
// make a reader allocate more than a fixed multiple of its own size, and a CRC-32C of every
// tensor and of the metadata, stored on write, is verified on read.
package checkpoint

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"sort"

	"github.com/nlpodyssey/safetensors"

	"github.com/kiln-ml/kiln/internal/atomicfile"
)

// Entry is one named tensor on the host: exactly one of F32 and F64 is set.
type Entry struct {
	Name  string
	Shape []int
	F32   []float32
	F64   []float64
}

// DType names the entry's element type as safetensors does: "F32", "F64", or "" when it
// holds neither or both.
func (e Entry) DType() string {
	switch {
	case e.F32 != nil && e.F64 == nil:
		return "F32"
	case e.F64 != nil && e.F32 == nil:
		return "F64"
	}
	return ""
}

// Len is the number of elements the shape holds.
func (e Entry) Len() int {
	n := 1
	for _, d := range e.Shape {
		n *= d
	}
	return n
}

// File is the content of a checkpoint: tensors by name and string metadata.
type File struct {
	Entries  map[string]Entry
	Metadata map[string]string
	// Checksums reports that Decode found and verified the CRC-32C of every tensor and of
	// the metadata; it is false for a file written before kiln stored checksums.
	Checksums bool
}

// Names lists the entries in sorted order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Entries))
	for n := range f.Entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Encode serialises entries and metadata into safetensors bytes, adding the CRC-32C of every
// tensor and of the metadata (see ChecksumPrefix). Scalars (shape []) are stored with shape
// [1], since the safetensors library rejects empty shapes with data.
func Encode(entries []Entry, metadata map[string]string) ([]byte, error) {
	views := make(map[string]safetensors.TensorView, len(entries))
	data := make(map[string][]byte, len(entries))
	for _, e := range entries {
		if _, dup := views[e.Name]; dup {
			return nil, fmt.Errorf("checkpoint: duplicate tensor name %q", e.Name)
		}
		v, err := e.view()
		if err != nil {
			return nil, err
		}
		views[e.Name], data[e.Name] = v, v.Data()
	}
	meta, err := addChecksums(metadata, data)
	if err != nil {
		return nil, err
	}
	return safetensors.Serialize(views, meta)
}

// view encodes one entry as a safetensors tensor view.
func (e Entry) view() (safetensors.TensorView, error) {
	if e.Name == metadataKey {
		return safetensors.TensorView{}, fmt.Errorf("checkpoint: %q is reserved and cannot name a tensor", e.Name)
	}
	if len(e.Shape) == 0 {
		e.Shape = []int{1}
	}
	if len(e.Shape) > MaxRank {
		return safetensors.TensorView{}, fmt.Errorf("checkpoint: tensor %q has rank %d, above the bound of %d", e.Name, len(e.Shape), MaxRank)
	}
	shape := make([]uint64, len(e.Shape))
	elems := uint64(1)
	for i, d := range e.Shape {
		if d < 0 || d > MaxExtent {
			return safetensors.TensorView{}, fmt.Errorf("checkpoint: tensor %q has extent %d in shape %v, outside [0, %d]", e.Name, d, e.Shape, MaxExtent)
		}
		shape[i] = uint64(d)
		if hi, lo := bits.Mul64(elems, shape[i]); hi == 0 && lo <= MaxElements {
			elems = lo
		} else {
			return safetensors.TensorView{}, fmt.Errorf("checkpoint: tensor %q has shape %v, above the bound of %d elements", e.Name, e.Shape, uint64(MaxElements))
		}
	}
	var (
		dt   safetensors.DType
		data []byte
		n    int
	)
	switch {
	case e.F32 != nil && e.F64 == nil:
		dt, n = safetensors.F32, len(e.F32)
		data = make([]byte, 0, 4*n)
		for _, v := range e.F32 {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
	case e.F64 != nil && e.F32 == nil:
		dt, n = safetensors.F64, len(e.F64)
		data = make([]byte, 0, 8*n)
		for _, v := range e.F64 {
			data = binary.LittleEndian.AppendUint64(data, math.Float64bits(v))
		}
	default:
		return safetensors.TensorView{}, fmt.Errorf("checkpoint: tensor %q must hold exactly one of float32 or float64 data", e.Name)
	}
	if uint64(n) != elems {
		return safetensors.TensorView{}, fmt.Errorf("checkpoint: tensor %q has %d values for shape %v", e.Name, n, e.Shape)
	}
	v, err := safetensors.NewTensorView(dt, shape, data)
	if err != nil {
		return safetensors.TensorView{}, fmt.Errorf("checkpoint: tensor %q: %w", e.Name, err)
	}
	return v, nil
}

// Decode parses safetensors bytes, converting F32/F64 tensors to host slices. Before
// anything is converted it checks the header against the package's limits (MaxHeaderBytes,
// MaxTensors, MaxRank, MaxExtent, MaxElements), rejects duplicate names and keys, lets the
// safetensors library check the dtypes and that the tensors' byte ranges tile the data
// exactly, and verifies the checksums if the file has them. What it allocates is bounded by
// a multiple of len(buf): about 1.1 for a model, whose bytes are nearly all tensor data, and
// about 60 at worst, for a header of nothing but empty tensors (the JSON decoding dominates).
// The checksum keys are removed from the returned metadata.
func Decode(buf []byte) (*File, error) {
	n, err := headerLength(buf)
	if err != nil {
		return nil, err
	}
	if err := scanHeader(buf[8 : 8+n]); err != nil {
		return nil, err
	}
	_, header, err := safetensors.ReadMetadata(buf)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: not a valid safetensors file: %w", err)
	}
	infos := header.Tensors()
	f := &File{Entries: make(map[string]Entry, len(infos)), Metadata: map[string]string{}}
	for k, v := range header.Metadata() {
		f.Metadata[k] = v
	}
	names := make([]string, 0, len(infos))
	for name := range infos {
		names = append(names, name)
	}
	sort.Strings(names) // the first problem reported does not depend on map order
	body := buf[8+n:]
	data := make(map[string][]byte, len(infos))
	for _, name := range names {
		info := infos[name]
		shape, err := tensorShape(name, info)
		if err != nil {
			return nil, err
		}
		f.Entries[name] = Entry{Name: name, Shape: shape}
		data[name] = body[info.DataOffsets[0]:info.DataOffsets[1]]
	}
	if f.Checksums, err = verifyChecksums(f.Metadata, data); err != nil {
		return nil, err
	}
	for name, info := range infos {
		e := f.Entries[name]
		decodeValues(&e, info.DType, data[name])
		f.Entries[name] = e
	}
	return f, nil
}

// decodeValues converts little-endian bytes of dtype dt (F32 or F64, their length already
// checked against the shape) into e's values.
func decodeValues(e *Entry, dt safetensors.DType, b []byte) {
	if dt == safetensors.F32 {
		e.F32 = make([]float32, len(b)/4)
		for i := range e.F32 {
			e.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return
	}
	e.F64 = make([]float64, len(b)/8)
	for i := range e.F64 {
		e.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
}

// Save writes entries and metadata to path atomically.
func Save(path string, entries []Entry, metadata map[string]string) error {
	buf, err := Encode(entries, metadata)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, buf)
}

// Load reads and decodes a checkpoint file. It reads only regular files, and no more bytes
// than the file's size, so that a device or a pipe given as a path cannot make it read
// without end.
func Load(path string) (*File, error) {
	buf, err := readRegular(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	f, err := Decode(buf)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return f, nil
}

// readRegular reads the whole of a regular file.
func readRegular(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	buf := make([]byte, st.Size())
	if _, err := io.ReadFull(fh, buf); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return buf, nil
}

// WriteFileAtomic writes data to path atomically (package atomicfile: a temporary file
// beside path, synced, renamed over it, mode 0644).
func WriteFileAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, data); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// Expect describes a tensor a loader requires.
type Expect struct {
	Name  string
	Shape []int
}

// Check verifies that f holds exactly the expected tensors with the expected shapes and
// reports every discrepancy in one error.
func (f *File) Check(want []Expect) error {
	var problems []string
	seen := map[string]bool{}
	for _, w := range want {
		seen[w.Name] = true
		e, ok := f.Entries[w.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("missing tensor %q", w.Name))
			continue
		}
		if !slices.Equal(e.Shape, w.Shape) {
			problems = append(problems, fmt.Sprintf("tensor %q has shape %v, want %v", w.Name, e.Shape, w.Shape))
		}
	}
	for _, n := range f.Names() {
		if !seen[n] {
			problems = append(problems, fmt.Sprintf("unexpected tensor %q", n))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	if len(problems) > 8 {
		problems = append(problems[:8], fmt.Sprintf("... and %d more", len(problems)-8))
	}
	msg := "checkpoint does not match the model:"
	for _, p := range problems {
		msg += "\n  " + p
	}
	return fmt.Errorf("%s", msg)
}
