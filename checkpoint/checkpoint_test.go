package checkpoint

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoundTripAndAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	entries := []Entry{
		{Name: "w", Shape: []int{2, 3}, F32: []float32{1, -2, 3.5, 4, 5, 6e-8}},
		{Name: "s", Shape: []int{1}, F64: []float64{0.125}},
	}
	require.NoError(t, Save(path, entries, map[string]string{"config": `{"layers":2}`}))
	f, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, entries[0].F32, f.Entries["w"].F32)
	require.Equal(t, []int{2, 3}, f.Entries["w"].Shape)
	require.Equal(t, entries[1].F64, f.Entries["s"].F64)
	require.Equal(t, map[string]string{"config": `{"layers":2}`}, f.Metadata, "checksum keys are not returned")
	require.True(t, f.Checksums)
	require.Equal(t, "F32", f.Entries["w"].DType())
	require.Equal(t, "F64", f.Entries["s"].DType())
	// No temporary files are left behind.
	names, _ := os.ReadDir(dir)
	require.Len(t, names, 1)

	require.NoError(t, f.Check([]Expect{{"w", []int{2, 3}}, {"s", []int{1}}}))
	err = f.Check([]Expect{{"w", []int{3, 2}}, {"b", []int{3}}})
	require.ErrorContains(t, err, `tensor "w" has shape [2 3], want [3 2]`)
	require.ErrorContains(t, err, `missing tensor "b"`)
	require.ErrorContains(t, err, `unexpected tensor "s"`)
}

func TestCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	good, err := Encode([]Entry{{Name: "w", Shape: []int{4}, F32: []float32{1, 2, 3, 4}}}, nil)
	require.NoError(t, err)
	cases := map[string][]byte{
		"empty":           {},
		"short":           {1, 2, 3},
		"truncated data":  good[:len(good)-3],
		"header too long": append([]byte{0xff, 0xff, 0xff, 0, 0, 0, 0, 0}, good[8:]...),
		"garbage header":  append(append([]byte{}, good[:8]...), []byte("not json at all, not json at all, not json at all, not json")...),
		"flipped length":  append([]byte{byte(good[0] + 3)}, good[1:]...),
	}
	for name, buf := range cases {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, buf, 0o644))
		_, err := Load(p)
		require.Error(t, err, name)
		require.Contains(t, err.Error(), "checkpoint:", name)
	}
	_, err = Load(filepath.Join(dir, "absent"))
	require.Error(t, err)
	_, err = Encode([]Entry{{Name: "x", Shape: []int{3}, F32: []float32{1}}}, nil)
	require.ErrorContains(t, err, "1 values for shape [3]")
}
