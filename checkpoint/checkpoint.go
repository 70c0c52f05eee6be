// Package checkpoint reads and writes named tensors as safetensors files (the format of
// Hugging Face's safetensors: an 8-byte little-endian header length, a JSON header with each
// tensor's dtype, shape and byte range plus free-form string metadata, then the raw
// little-endian data), using github.com/nlpodyssey/safetensors for the format itself.
//
// Writes are atomic: the file is written to a temporary name in the same directory, synced,
// renamed over the target and the directory synced, so a run killed mid-write leaves either
// the old checkpoint or the new one, never a torn file. Reads validate everything a corrupt
// or mismatched file can get wrong and say what it is.
package checkpoint

import (
	"encoding/binary"
	"fmt"
	"math"
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

// Encode serialises entries and metadata into safetensors bytes. Scalars (shape []) are
// stored with shape [1], since the safetensors library rejects empty shapes with data.
func Encode(entries []Entry, metadata map[string]string) ([]byte, error) {
	views := make(map[string]safetensors.TensorView, len(entries))
	for _, e := range entries {
		if _, dup := views[e.Name]; dup {
			return nil, fmt.Errorf("checkpoint: duplicate tensor name %q", e.Name)
		}
		if len(e.Shape) == 0 {
			e.Shape = []int{1}
		}
		shape := make([]uint64, len(e.Shape))
		for i, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("checkpoint: tensor %q has negative extent in shape %v", e.Name, e.Shape)
			}
			shape[i] = uint64(d)
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
			return nil, fmt.Errorf("checkpoint: tensor %q must hold exactly one of float32 or float64 data", e.Name)
		}
		if n != e.Len() {
			return nil, fmt.Errorf("checkpoint: tensor %q has %d values for shape %v", e.Name, n, e.Shape)
		}
		v, err := safetensors.NewTensorView(dt, shape, data)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: tensor %q: %w", e.Name, err)
		}
		views[e.Name] = v
	}
	return safetensors.Serialize(views, metadata)
}

// Decode parses safetensors bytes, converting F32/F64 tensors to host slices.
func Decode(buf []byte) (*File, error) {
	if len(buf) < 8 {
		return nil, fmt.Errorf("checkpoint: file is %d bytes, too short for a safetensors header", len(buf))
	}
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: not a valid safetensors file: %w", err)
	}
	_, meta, err := safetensors.ReadMetadata(buf)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: bad safetensors header: %w", err)
	}
	f := &File{Entries: map[string]Entry{}, Metadata: meta.Metadata()}
	if f.Metadata == nil {
		f.Metadata = map[string]string{}
	}
	for _, nt := range st.Tensors() {
		tv := nt.TensorView
		shape := make([]int, len(tv.Shape()))
		n := 1
		for i, d := range tv.Shape() {
			shape[i] = int(d)
			n *= int(d)
		}
		e := Entry{Name: nt.Name, Shape: shape}
		data := tv.Data()
		switch tv.DType() {
		case safetensors.F32:
			if len(data) != 4*n {
				return nil, fmt.Errorf("checkpoint: tensor %q: %d bytes for shape %v", e.Name, len(data), shape)
			}
			e.F32 = make([]float32, n)
			for i := range e.F32 {
				e.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			}
		case safetensors.F64:
			if len(data) != 8*n {
				return nil, fmt.Errorf("checkpoint: tensor %q: %d bytes for shape %v", e.Name, len(data), shape)
			}
			e.F64 = make([]float64, n)
			for i := range e.F64 {
				e.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
			}
		default:
			return nil, fmt.Errorf("checkpoint: tensor %q has dtype %s; kiln reads F32 and F64", e.Name, tv.DType())
		}
		f.Entries[e.Name] = e
	}
	return f, nil
}

// Save writes entries and metadata to path atomically.
func Save(path string, entries []Entry, metadata map[string]string) error {
	buf, err := Encode(entries, metadata)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, buf)
}

// Load reads and decodes a checkpoint file.
func Load(path string) (*File, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	f, err := Decode(buf)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return f, nil
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
