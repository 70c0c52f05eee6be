package checkpoint

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"github.com/stretchr/testify/require"
)

// rawFile assembles a safetensors file from a JSON header and the data bytes, as a writer
// that bypasses Encode (another tool, a corrupted copy, an attacker) would.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

// legacyFile encodes entries without checksums, as kiln wrote files before it stored them.
func legacyFile(t testing.TB, entries []Entry, meta map[string]string) []byte {
	t.Helper()
	views := map[string]safetensors.TensorView{}
	for _, e := range entries {
		v, err := e.view()
		require.NoError(t, err)
		views[e.Name] = v
	}
	b, err := safetensors.Serialize(views, meta)
	require.NoError(t, err)
	return b
}

func sampleEntries() []Entry {
	return []Entry{
		{Name: "w", Shape: []int{2, 3}, F32: []float32{1, -2, 3.5, 4, 5, 6e-8}},
		{Name: "b", Shape: []int{3}, F32: []float32{0.5, 0.25, -1}},
		{Name: "opt.m", Shape: []int{2}, F64: []float64{1e-3, -7}},
	}
}

// totalAlloc is the number of bytes the program has allocated so far.
func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// Files written before checksums existed still load, unverified.
func TestLegacyFileLoadsUnverified(t *testing.T) {
	f, err := Decode(legacyFile(t, sampleEntries(), map[string]string{"k": "v"}))
	require.NoError(t, err)
	require.False(t, f.Checksums)
	require.Equal(t, map[string]string{"k": "v"}, f.Metadata)
	require.Equal(t, sampleEntries()[0].F32, f.Entries["w"].F32)
}

// Every single flipped bit anywhere in a checksummed file, header and data alike, is an
// error; a flip in the data region names the tensor it hit.
func TestEveryBitFlipIsRejected(t *testing.T) {
	buf, err := Encode(sampleEntries(), map[string]string{"config": `{"layers":2}`, "step": "17"})
	require.NoError(t, err)
	f, err := Decode(buf)
	require.NoError(t, err)
	require.True(t, f.Checksums)
	n := int(binary.LittleEndian.Uint64(buf))
	_, header, err := safetensors.ReadMetadata(buf)
	require.NoError(t, err)
	owner := func(off int) string { // the tensor whose bytes lie at file offset off
		for name, info := range header.Tensors() {
			if uint64(off-8-n) >= info.DataOffsets[0] && uint64(off-8-n) < info.DataOffsets[1] {
				return name
			}
		}
		return ""
	}
	for off := range buf {
		for bit := range 8 {
			bad := append([]byte(nil), buf...)
			bad[off] ^= 1 << bit
			_, err := Decode(bad)
			require.Error(t, err, "flip of bit %d at offset %d accepted", bit, off)
			if off >= 8+n {
				require.ErrorContains(t, err, fmt.Sprintf("tensor %q fails its checksum", owner(off)))
			}
		}
	}
}

// Checksum metadata must cover every tensor and the metadata, and only tensors present.
func TestPartialChecksumsAreRejected(t *testing.T) {
	good, err := Encode(sampleEntries(), map[string]string{"k": "v"})
	require.NoError(t, err)
	_, header, err := safetensors.ReadMetadata(good)
	require.NoError(t, err)
	// rebuild re-encodes the good file's tensors with edited metadata.
	rebuild := func(edit func(meta map[string]string)) []byte {
		meta := map[string]string{}
		for k, v := range header.Metadata() {
			meta[k] = v
		}
		edit(meta)
		f, err := Decode(legacyFile(t, sampleEntries(), nil))
		require.NoError(t, err)
		var es []Entry
		for _, name := range f.Names() {
			es = append(es, f.Entries[name])
		}
		return legacyFile(t, es, meta)
	}
	cases := map[string]struct {
		edit func(map[string]string)
		want string
	}{
		"tensor without checksum":  {func(m map[string]string) { delete(m, "crc32c.w") }, `tensor "w" has no checksum while others do`},
		"metadata without":         {func(m map[string]string) { delete(m, "crc32c.__metadata__") }, "metadata has no checksum"},
		"checksum of absent":       {func(m map[string]string) { m["crc32c.ghost"] = "00000000" }, `checksums for absent tensors "ghost"`},
		"uppercase checksum":       {func(m map[string]string) { m["crc32c.w"] = strings.ToUpper(m["crc32c.w"]) }, "not 8 lowercase hex digits"},
		"short checksum":           {func(m map[string]string) { m["crc32c.b"] = "abc" }, "not 8 lowercase hex digits"},
		"edited metadata":          {func(m map[string]string) { m["k"] = "w" }, "metadata fails its checksum"},
		"added metadata":           {func(m map[string]string) { m["extra"] = "" }, "metadata fails its checksum"},
		"only a metadata checksum": {func(m map[string]string) { delete(m, "crc32c.w"); delete(m, "crc32c.b"); delete(m, "crc32c.opt.m") }, "has no checksum while others do"},
	}
	for name, c := range cases {
		_, err := Decode(rebuild(c.edit))
		require.ErrorContains(t, err, c.want, name)
	}
	// The unedited rebuild is valid: the cases fail for their edit alone.
	_, err = Decode(rebuild(func(map[string]string) {}))
	require.NoError(t, err)
}

// Hostile or malformed headers each give a clear error, before any tensor data is converted.
func TestHostileHeaders(t *testing.T) {
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	tooMany := func() string {
		var sb strings.Builder
		sb.WriteString("{")
		for i := range MaxTensors + 1 {
			if i > 0 {
				sb.WriteString(",")
			}
			fmt.Fprintf(&sb, `"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`, i)
		}
		return sb.String() + "}"
	}
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"header beyond the file", binary.LittleEndian.AppendUint64(nil, 1000), "header length 1000 runs past the end of the 8-byte file"},
		{"header above the bound", append(binary.LittleEndian.AppendUint64(nil, MaxHeaderBytes+1), "{}"...), "exceeds the bound of 16777216 bytes"},
		{"header length 2^64-1", append(binary.LittleEndian.AppendUint64(nil, 1<<64-1), "{}"...), "exceeds the bound"},
		{"duplicate name", rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32(1)), `duplicate tensor name "w"`},
		{"duplicate metadata key", rawFile(`{"__metadata__":{"a":"1","a":"2"}}`, nil), `duplicate key "a" in metadata`},
		{"duplicate field", rawFile(`{"w":{"dtype":"F64","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32(1)), `duplicate key "dtype" in tensor "w"`},
		{"negative extent", rawFile(`{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}`, f32(4)), "natural numbers"},
		{"extent above the bound", rawFile(`{"w":{"dtype":"F32","shape":[0,4294967296],"data_offsets":[0,0]}}`, nil), "extent 4294967296"},
		{"elements above the bound", rawFile(`{"w":{"dtype":"F32","shape":[0,2147483647,2147483647],"data_offsets":[0,0]}}`, nil), "above the bound of 1099511627776 elements"},
		{"product overflow", rawFile(`{"w":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}`, nil), "overflow"},
		{"rank above the bound", rawFile(`{"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}`, f32(1)), `tensor "w" has rank above the bound of 8`},
		{"size disagrees with shape", rawFile(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`, f32(4)), "offsets mismatch"},
		{"offsets past the data", rawFile(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, f32(2)), "incomplete buffer"},
		{"offsets overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, f32(3)), "invalid metadata offset"},
		{"bytes after the data", rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32(2)), "incomplete buffer"},
		{"dtype kiln does not read", rawFile(`{"w":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}`, f32(1)), `tensor "w" has dtype I32; kiln reads F32 and F64`},
		{"half precision", rawFile(`{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, f32(1)), "dtype F16"},
		{"unknown dtype", rawFile(`{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}`, f32(1)), "invalid DType"},
		{"too many tensors", rawFile(tooMany(), nil), "more than the bound of 65536 tensors"},
		{"nested object", rawFile(`{"w":{"dtype":"F32","shape":[{"a":1}],"data_offsets":[0,4]}}`, f32(1)), "nested object or array"},
		{"nested metadata", rawFile(`{"__metadata__":{"a":{"b":"c"}}}`, nil), `metadata "a" holds a nested object`},
		{"non-string metadata", rawFile(`{"__metadata__":{"a":1}}`, nil), "expected string"},
		{"header not an object", rawFile(`[1,2]`, nil), "header"},
		{"data after the header JSON", rawFile(`{}{}`, nil), "data after its JSON object"},
		{"invalid UTF-8", rawFile("{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", f32(1)), "UTF-8"},
		{"missing field", rawFile(`{"w":{"dtype":"F32","shape":[1]}}`, f32(1)), "expected 3 keys"},
	}
	for _, c := range cases {
		before := totalAlloc()
		_, err := Decode(c.file)
		used := totalAlloc() - before
		require.ErrorContains(t, err, c.want, c.name)
		require.Contains(t, err.Error(), "checkpoint:", c.name)
		require.Less(t, used, uint64(64*len(c.file)+1<<20), "%s: %d bytes allocated for a %d-byte file", c.name, used, len(c.file))
	}
}

// A valid header of nothing but empty tensors is the worst case of memory per input byte;
// it stays within the bound the fuzz target checks.
func TestDecodeMemoryIsBoundedByInput(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 20000 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"%d":{"dtype":"F32","shape":[0,0,0,0,0,0,0,0],"data_offsets":[0,0]}`, i)
	}
	buf := rawFile(sb.String()+"}", nil)
	before := totalAlloc()
	f, err := Decode(buf)
	used := totalAlloc() - before
	require.NoError(t, err)
	require.Len(t, f.Entries, 20000)
	t.Logf("%d bytes allocated for a %d-byte file (%.1f×)", used, len(buf), float64(used)/float64(len(buf)))
	require.Less(t, used, allocBound(len(buf)))
}

// allocBound is the most Decode may allocate for an input of n bytes.
func allocBound(n int) uint64 { return 100*uint64(n) + 1<<20 }

func TestEncodeRejectsReservedNames(t *testing.T) {
	_, err := Encode(sampleEntries(), map[string]string{"crc32c.w": "00000000"})
	require.ErrorContains(t, err, `metadata key "crc32c.w" uses the reserved prefix`)
	_, err = Encode([]Entry{{Name: "__metadata__", Shape: []int{1}, F32: []float32{1}}}, nil)
	require.ErrorContains(t, err, "reserved")
	_, err = Encode([]Entry{{Name: "x", Shape: []int{1, 1, 1, 1, 1, 1, 1, 1, 1}, F32: []float32{1}}}, nil)
	require.ErrorContains(t, err, "rank 9")
	_, err = Encode([]Entry{{Name: "x", Shape: []int{1 << 31, 0}, F32: []float32{}}}, nil)
	require.ErrorContains(t, err, "extent 2147483648")
}

// Checkpoints are readable by group and others (0644), whatever the mode of the file they
// replace, and only regular files are read.
func TestSaveModeAndLoadOfNonRegularFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	require.NoError(t, Save(path, sampleEntries(), nil))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm())
	_, err = Load(dir)
	require.ErrorContains(t, err, "not a regular file")
}
