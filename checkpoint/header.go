package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"unicode/utf8"

	"github.com/nlpodyssey/safetensors"
)

// Limits on what Decode accepts. They are far above any checkpoint kiln writes (the shipped
// model's header is 17 KB for 112 tensors; a training checkpoint holds three times as many
// tensors) and keep what a hostile header can make the decoder allocate within a fixed
// multiple of the file's size.
const (
	// MaxHeaderBytes bounds the JSON header (the safetensors library itself allows 100 MB).
	MaxHeaderBytes = 16 << 20
	// MaxTensors bounds the number of tensors in one file.
	MaxTensors = 1 << 16
	// MaxRank bounds the number of dimensions of a tensor.
	MaxRank = 8
	// MaxExtent bounds each dimension of a tensor.
	MaxExtent = 1<<31 - 1
	// MaxElements bounds the product of a tensor's non-zero extents. A tensor with data is
	// also bounded by the file's size; this bound matters for empty tensors, whose other
	// extents the file's size does not limit.
	MaxElements = 1 << 40
)

// metadataKey is the header key of the free-form metadata in the safetensors format; it
// cannot name a tensor.
const metadataKey = "__metadata__"

// headerLength reads the header length from the first 8 bytes of buf and checks that the
// header is within MaxHeaderBytes and within the file.
func headerLength(buf []byte) (int, error) {
	if len(buf) < 8 {
		return 0, fmt.Errorf("checkpoint: file is %d bytes, too short for a safetensors header", len(buf))
	}
	n := binary.LittleEndian.Uint64(buf)
	if n > MaxHeaderBytes {
		return 0, fmt.Errorf("checkpoint: header length %d exceeds the bound of %d bytes", n, MaxHeaderBytes)
	}
	if n > uint64(len(buf)-8) {
		return 0, fmt.Errorf("checkpoint: header length %d runs past the end of the %d-byte file", n, len(buf))
	}
	return int(n), nil
}

// scanHeader checks the structure of a safetensors JSON header before the safetensors
// library decodes it: valid UTF-8, one JSON object of at most MaxTensors tensors, no
// duplicate key at any level, nothing nested deeper than a tensor's shape or offsets, and
// shapes of rank at most MaxRank. The library decodes the header into Go maps, where a
// duplicate key silently replaces the earlier one, so a file could carry two definitions of
// a tensor and be read as whichever came last; and it accepts any rank and depth. Everything
// else (dtypes, offsets, sizes, metadata values being strings) is left to the library.
func scanHeader(hdr []byte) error {
	if !utf8.Valid(hdr) {
		return errors.New("checkpoint: header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if err := expectDelim(dec, '{', "header"); err != nil {
		return err
	}
	seen := map[string]bool{}
	tensors := 0
	for dec.More() {
		key, err := objectKey(dec, "header", seen)
		if err != nil {
			return err
		}
		if key != metadataKey {
			tensors++
		}
		if tensors > MaxTensors {
			return fmt.Errorf("checkpoint: header lists more than the bound of %d tensors", MaxTensors)
		}
		if key == metadataKey {
			err = scanMetadata(dec)
		} else {
			err = scanTensorInfo(dec, key)
		}
		if err != nil {
			return err
		}
	}
	if err := expectDelim(dec, '}', "header"); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("checkpoint: header has data after its JSON object")
	}
	return nil
}

// scanMetadata checks the metadata object: unique keys with scalar values.
func scanMetadata(dec *json.Decoder) error {
	if err := expectDelim(dec, '{', "metadata"); err != nil {
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		key, err := objectKey(dec, "metadata", seen)
		if err != nil {
			return err
		}
		if err := scalar(dec, fmt.Sprintf("metadata %q", key)); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}', "metadata")
}

// scanTensorInfo checks one tensor's entry: unique keys, scalar values or arrays of scalars,
// a shape of rank at most MaxRank.
func scanTensorInfo(dec *json.Decoder, name string) error {
	what := fmt.Sprintf("tensor %q", name)
	if err := expectDelim(dec, '{', what); err != nil {
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		key, err := objectKey(dec, what, seen)
		if err != nil {
			return err
		}
		err = scalarOrArray(dec, what+" "+key)
		if errors.Is(err, errLongArray) && key == "shape" {
			return fmt.Errorf("checkpoint: tensor %q has rank above the bound of %d", name, MaxRank)
		}
		if err != nil {
			return err
		}
	}
	return expectDelim(dec, '}', what)
}

// objectKey reads the next key of an object and rejects one already in seen.
func objectKey(dec *json.Decoder, what string, seen map[string]bool) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("checkpoint: bad header JSON in %s: %w", what, err)
	}
	key, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("checkpoint: bad header JSON in %s: key %v", what, tok)
	}
	if seen[key] {
		if what == "header" {
			return "", fmt.Errorf("checkpoint: duplicate tensor name %q in header", key)
		}
		return "", fmt.Errorf("checkpoint: duplicate key %q in %s", key, what)
	}
	seen[key] = true
	return key, nil
}

// errLongArray is scalarOrArray's error for an array of more than MaxRank values: shapes are
// the longest arrays a header holds.
var errLongArray = fmt.Errorf("checkpoint: header array longer than the bound of %d values", MaxRank)

// scalarOrArray reads a scalar or an array of at most MaxRank scalars.
func scalarOrArray(dec *json.Decoder, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("checkpoint: bad header JSON in %s: %w", what, err)
	}
	if tok != json.Delim('[') {
		if _, ok := tok.(json.Delim); ok {
			return fmt.Errorf("checkpoint: %s holds a nested object", what)
		}
		return nil
	}
	for n := 0; dec.More(); n++ {
		if n == MaxRank {
			return fmt.Errorf("%w (%s)", errLongArray, what)
		}
		if err := scalar(dec, what); err != nil {
			return err
		}
	}
	return expectDelim(dec, ']', what)
}

// scalar reads a value that must not be an object or an array.
func scalar(dec *json.Decoder, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("checkpoint: bad header JSON in %s: %w", what, err)
	}
	if _, ok := tok.(json.Delim); ok {
		return fmt.Errorf("checkpoint: %s holds a nested object or array", what)
	}
	return nil
}

// expectDelim reads the next token and requires it to be d.
func expectDelim(dec *json.Decoder, d json.Delim, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("checkpoint: bad header JSON in %s: %w", what, err)
	}
	if tok != d {
		return fmt.Errorf("checkpoint: bad header JSON in %s: got %v, want %v", what, tok, d)
	}
	return nil
}

// tensorShape checks a tensor's header entry against the limits and kiln's dtypes and
// returns its shape as ints.
func tensorShape(name string, info *safetensors.TensorInfo) ([]int, error) {
	if info.DType != safetensors.F32 && info.DType != safetensors.F64 {
		return nil, fmt.Errorf("checkpoint: tensor %q has dtype %s; kiln reads F32 and F64", name, info.DType)
	}
	if len(info.Shape) > MaxRank {
		return nil, fmt.Errorf("checkpoint: tensor %q has rank %d, above the bound of %d", name, len(info.Shape), MaxRank)
	}
	shape := make([]int, len(info.Shape))
	elems := uint64(1)
	for i, d := range info.Shape {
		if d > MaxExtent {
			return nil, fmt.Errorf("checkpoint: tensor %q has extent %d in shape %v, above the bound of %d", name, d, info.Shape, MaxExtent)
		}
		shape[i] = int(d)
		if d == 0 {
			continue
		}
		hi, lo := bits.Mul64(elems, d)
		if hi != 0 || lo > MaxElements {
			return nil, fmt.Errorf("checkpoint: tensor %q has shape %v, above the bound of %d elements", name, info.Shape, uint64(MaxElements))
		}
		elems = lo
	}
	return shape, nil
}
