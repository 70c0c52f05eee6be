package checkpoint

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

var writeSeeds = flag.Bool("write-fuzz-seeds", false, "rewrite the committed seed corpus of FuzzDecode under testdata/fuzz")

// heapAllocated is the heap allocated so far, read without stopping the world (unlike
// runtime.ReadMemStats), so the fuzz target can check every input.
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// fuzzSeeds are valid, legacy and hostile files: the starting points of FuzzDecode.
func fuzzSeeds(t testing.TB) map[string][]byte {
	good, err := Encode(sampleEntries(), map[string]string{"config": `{"layers":2}`})
	require.NoError(t, err)
	scalars, err := Encode([]Entry{{Name: "s", F64: []float64{2}}, {Name: "empty", Shape: []int{0, 3}, F32: []float32{}}}, nil)
	require.NoError(t, err)
	return map[string][]byte{
		"checksummed":    good,
		"legacy":         legacyFile(t, sampleEntries(), map[string]string{"k": "v"}),
		"scalars":        scalars,
		"empty-header":   rawFile(`{}`, nil),
		"duplicate-name": rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)),
		"zero-extent":    rawFile(`{"w":{"dtype":"F32","shape":[0,2147483647,2147483647],"data_offsets":[0,0]}}`, nil),
		"rank-9":         rawFile(`{"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}`, make([]byte, 4)),
		"short-length":   {200, 0, 0, 0, 0, 0, 0, 0, '{', '}'},
	}
}

// TestWriteFuzzSeeds writes fuzzSeeds as the committed corpus when -write-fuzz-seeds is set.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("-write-fuzz-seeds not set")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, b := range fuzzSeeds(t) {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644))
	}
}

// FuzzDecode feeds arbitrary bytes to Decode. Invariants: it never panics; it allocates at
// most allocBound of the input's size; what it accepts re-encodes and decodes to the same
// tensors and metadata.
func FuzzDecode(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		before := heapAllocated()
		file, err := Decode(b)
		if used := heapAllocated() - before; used > allocBound(len(b)) {
			t.Fatalf("Decode allocated %d bytes for %d bytes of input", used, len(b))
		}
		if err != nil {
			return
		}
		var entries []Entry
		for _, name := range file.Names() {
			entries = append(entries, file.Entries[name])
		}
		again, err := Encode(entries, file.Metadata)
		if err != nil {
			t.Fatalf("a decoded file does not re-encode: %v", err)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("a re-encoded file does not decode: %v", err)
		}
		if !back.Checksums || len(back.Entries) != len(file.Entries) {
			t.Fatalf("round trip: checksums %v, %d entries of %d", back.Checksums, len(back.Entries), len(file.Entries))
		}
		for name, e := range file.Entries {
			if !sameEntry(e, back.Entries[name]) {
				t.Fatalf("round trip changed tensor %q", name)
			}
		}
		for k, v := range file.Metadata {
			if back.Metadata[k] != v {
				t.Fatalf("round trip changed metadata %q", k)
			}
		}
	})
}

// sameEntry compares shapes (a scalar is written with shape [1]) and values bit for bit.
func sameEntry(a, b Entry) bool {
	if len(a.Shape) == 0 {
		a.Shape = []int{1}
	}
	if !slices.Equal(a.Shape, b.Shape) || len(a.F32) != len(b.F32) || len(a.F64) != len(b.F64) {
		return false
	}
	for i := range a.F32 {
		if math.Float32bits(a.F32[i]) != math.Float32bits(b.F32[i]) {
			return false
		}
	}
	for i := range a.F64 {
		if math.Float64bits(a.F64[i]) != math.Float64bits(b.F64[i]) {
			return false
		}
	}
	return a.DType() == b.DType()
}
