package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

var compact thrift.CompactProtocol

// writeParquetWith is writeParquet with writer options (compression, page version, sizes).
func writeParquetWith[T any](t *testing.T, rows []T, opts ...parquet.WriterOption) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatalf("parquet write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("parquet close: %v", err)
	}
	return buf.Bytes()
}

// splitParquet returns the part of a Parquet file before its footer and the decoded footer.
func splitParquet(t *testing.T, b []byte) ([]byte, *format.FileMetaData) {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	var md format.FileMetaData
	if err := thrift.Unmarshal(&compact, b[len(b)-8-n:len(b)-8], &md); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b[:len(b)-8-n]), &md
}

// joinParquet is the inverse of splitParquet.
func joinParquet(t *testing.T, data []byte, md *format.FileMetaData) []byte {
	t.Helper()
	footer, err := thrift.Marshal(&compact, md)
	if err != nil {
		t.Fatal(err)
	}
	out := append(bytes.Clone(data), footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, parquetMagic...)
}

// rewritePage decodes page k (from 0) of column col of the first row group, lets f change its
// header and writes it back, moving the offsets after it by the change in the header's length.
func rewritePage(t *testing.T, b []byte, col, k int, f func(*format.PageHeader)) []byte {
	t.Helper()
	data, md := splitParquet(t, b)
	cm := &md.RowGroups[0].Columns[col].MetaData
	pos := cm.DataPageOffset
	if cm.DictionaryPageOffset != 0 {
		pos = cm.DictionaryPageOffset
	}
	for i := 0; ; i++ {
		r := compact.NewReaderFromBytes(data[pos:])
		var h format.PageHeader
		if err := thrift.NewDecoder(r).Decode(&h); err != nil {
			t.Fatal(err)
		}
		if i < k {
			pos += int64(r.BytesRead()) + int64(h.CompressedPageSize)
			continue
		}
		f(&h)
		hdr, err := thrift.Marshal(&compact, &h)
		if err != nil {
			t.Fatal(err)
		}
		delta := int64(len(hdr) - r.BytesRead())
		data = append(append(append([]byte{}, data[:pos]...), hdr...), data[pos+int64(r.BytesRead()):]...)
		for g := range md.RowGroups {
			for j := range md.RowGroups[g].Columns {
				m := &md.RowGroups[g].Columns[j].MetaData
				if m.DataPageOffset > pos {
					m.DataPageOffset += delta
				}
				if m.DictionaryPageOffset > pos {
					m.DictionaryPageOffset += delta
				}
			}
		}
		cm.TotalCompressedSize += delta
		return joinParquet(t, data, md)
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Files from every codec the library writes, with v1 and v2 data pages, pass the checks and load
// as the uncompressed file does.
func TestParquetCodecsLoad(t *testing.T) {
	want := readPQ(t, writeParquet(t, mixedRows), Options{})
	for _, codec := range []compress.Codec{&parquet.Uncompressed, &parquet.Snappy, &parquet.Gzip, &parquet.Brotli, &parquet.Zstd, &parquet.Lz4Raw} {
		for _, version := range []int{1, 2} {
			b := writeParquetWith(t, mixedRows, parquet.Compression(codec), parquet.DataPageVersion(version))
			got, err := ReadParquet(bytes.NewReader(b), int64(len(b)), Options{})
			if err != nil {
				t.Errorf("%s, v%d pages: %v", codec, version, err)
				continue
			}
			sameTable(t, got, want)
		}
	}
	// Many pages and row groups: the walk follows every page of every chunk.
	type row struct {
		A float64 `parquet:"a"`
		S string  `parquet:"s,dict"`
		Y string  `parquet:"y"`
	}
	var rows []row
	var csv strings.Builder
	csv.WriteString("a,s,y\n")
	for i := range 5000 {
		r := row{float64(i) / 7, fmt.Sprintf("s%d", i%37), []string{"p", "q"}[i%2]}
		rows = append(rows, r)
		fmt.Fprintf(&csv, "%v,%s,%s\n", r.A, r.S, r.Y)
	}
	for _, codec := range []compress.Codec{&parquet.Snappy, &parquet.Zstd} {
		b := writeParquetWith(t, rows, parquet.Compression(codec), parquet.PageBufferSize(1024), parquet.MaxRowsPerRowGroup(1500))
		sameTable(t, readPQ(t, b, Options{}), read(t, csv.String(), Options{}))
	}
}

// Sizes and counts a corrupt file declares are checked against the file before anything is
// allocated by them: each case is rejected with its message, allocating little.
func TestParquetDeclaredSizesAreChecked(t *testing.T) {
	type row struct {
		A float64 `parquet:"a"`
		Y string  `parquet:"y"`
	}
	rows := []row{{1, "x"}, {2, "y"}, {3, "x"}}
	plain := writeParquetWith(t, rows, parquet.DataPageVersion(1))
	snappy := writeParquetWith(t, rows, parquet.Compression(&parquet.Snappy), parquet.DataPageVersion(1))
	zstd := writeParquetWith(t, rows, parquet.Compression(&parquet.Zstd), parquet.DataPageVersion(2))
	if got := readPQ(t, snappy, Options{}); got.Rows() != 3 {
		t.Fatalf("snappy file: %d rows", got.Rows())
	}

	withMeta := func(b []byte, f func(*format.FileMetaData)) []byte {
		data, md := splitParquet(t, b)
		f(md)
		return joinParquet(t, data, md)
	}
	footerLen := func(b []byte, n uint32) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint32(b[len(b)-8:], n)
		return b
	}
	// A footer whose schema list claims 2^30 elements: the list header of field 2 becomes the
	// long form (0xfc: 15 = "count follows", 12 = struct) with a varint count.
	hugeList := func(b []byte) []byte {
		n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
		footer := b[len(b)-8-n : len(b)-8]
		// Field 1 (version, i32) is 0x15 and a one-byte varint; field 2 (schema, list) is 0x19.
		if footer[0] != 0x15 || footer[2] != 0x19 {
			t.Fatalf("footer starts % x", footer[:4])
		}
		patched := append(append(bytes.Clone(footer[:3]), 0xfc, 0x80, 0x80, 0x80, 0x80, 0x04), footer[4:]...)
		out := append(bytes.Clone(b[:len(b)-8-n]), patched...)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(patched)))
		return append(out, parquetMagic...)
	}
	footerBytes := func(b []byte) int { return int(binary.LittleEndian.Uint32(b[len(b)-8:])) }

	rowBomb := withMeta(plain, func(md *format.FileMetaData) { md.NumRows = 1 << 40; md.RowGroups[0].NumRows = 1 << 40 })
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"footer length", footerLen(plain, 0x7fffffff),
			fmt.Sprintf("data: truncated or corrupt Parquet file: the footer is declared 2147483647 bytes long, the file has %d bytes", len(plain))},
		{"footer list count", hugeList(plain),
			fmt.Sprintf("data: corrupt Parquet file: footer: a list of 1073741824 elements with %d bytes left", footerBytes(plain)-4)},
		{"row count", rowBomb, fmt.Sprintf("data: the Parquet file declares 1099511627776 rows of 2 columns, more than 1048576 cells (1024 per byte of its %d bytes): the file is corrupt or a decompression bomb", len(rowBomb))},
		{"row group rows", withMeta(plain, func(md *format.FileMetaData) { md.RowGroups[0].NumRows = 4 }),
			"data: corrupt Parquet file: row group 1 declares 4 rows, the file 3 in all"},
		{"chunk values", withMeta(plain, func(md *format.FileMetaData) { md.RowGroups[0].Columns[1].MetaData.NumValues = 1 << 30 }),
			"data: corrupt Parquet file: row group 1, column 2: 1073741824 values in a row group of 3 rows"},
		{"chunk size", withMeta(plain, func(md *format.FileMetaData) { md.RowGroups[0].Columns[0].MetaData.TotalCompressedSize = 1 << 40 }),
			"data: corrupt Parquet file: row group 1, column 1: 1099511627776 bytes at offset 4 lie outside the data section, which ends at offset 221"},
		{"codec", withMeta(plain, func(md *format.FileMetaData) { md.RowGroups[0].Columns[0].MetaData.Codec = format.LZO }),
			"data: corrupt Parquet file: row group 1, column 1: compression codec LZO is not supported"},
		{"page size", rewritePage(t, plain, 0, 0, func(h *format.PageHeader) { h.CompressedPageSize = 1 << 30 }),
			"data: corrupt Parquet file: row group 1, column 1: page 1: 1073741824 bytes (24 uncompressed) at offset 75 overrun the chunk, which ends at 99"},
		{"page values", rewritePage(t, plain, 0, 0, func(h *format.PageHeader) { h.DataPageHeader.V.NumValues = 1 << 30 }),
			"data: corrupt Parquet file: row group 1, column 1: page 1: 1073741821 more values than the chunk's 3"},
		{"too few page values", rewritePage(t, plain, 0, 0, func(h *format.PageHeader) { h.DataPageHeader.V.NumValues = 2 }),
			"data: corrupt Parquet file: row group 1, column 1: the pages hold 2 values, the chunk declares 3"},
		{"snappy bomb", rewritePage(t, snappy, 0, 0, func(h *format.PageHeader) { h.UncompressedPageSize = 1 << 30 }),
			"data: corrupt Parquet file: row group 1, column 1: page 1: 26 compressed bytes declare 1073741824 uncompressed, more than the 8388608 allowed"},
		{"snappy size lie", rewritePage(t, snappy, 0, 0, func(h *format.PageHeader) { h.UncompressedPageSize++ }),
			"data: corrupt Parquet file: row group 1, column 1: page 1: SNAPPY data decompresses to 24 bytes, the page declares 25"},
		{"zstd size lie", rewritePage(t, zstd, 0, 0, func(h *format.PageHeader) { h.UncompressedPageSize += 1000 }),
			"data: corrupt Parquet file: row group 1, column 1: page 1: ZSTD data decompresses to 24 bytes, the page declares 1024"},
	}
	for _, c := range cases {
		var err error
		n := allocated(func() { _, err = ReadParquet(bytes.NewReader(c.file), int64(len(c.file)), Options{}) })
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v\nwant %s", c.name, err, c.want)
		}
		if n > 4<<20 {
			t.Errorf("%s: allocated %d bytes for a %d-byte file", c.name, n, len(c.file))
		}
	}
}

// withoutPageCRCs rewrites every page header of b with no checksum, so that a fuzzer's changes
// to page data reach the decoders instead of failing the checksum.
func withoutPageCRCs(t *testing.T, b []byte) []byte {
	t.Helper()
	data, md := splitParquet(t, b)
	var out []byte
	var moved []struct{ from, delta int64 }
	shift := func(off int64) int64 {
		d := int64(0)
		for _, m := range moved {
			if off > m.from {
				d += m.delta
			}
		}
		return off + d
	}
	type span struct{ start, end int64 }
	var chunks []span
	for g := range md.RowGroups {
		for j := range md.RowGroups[g].Columns {
			m := &md.RowGroups[g].Columns[j].MetaData
			start := m.DataPageOffset
			if m.DictionaryPageOffset != 0 {
				start = m.DictionaryPageOffset
			}
			chunks = append(chunks, span{start, start + m.TotalCompressedSize})
		}
	}
	last := int64(0)
	for _, c := range chunks {
		out = append(out, data[last:c.start]...)
		for pos := c.start; pos < c.end; {
			r := compact.NewReaderFromBytes(data[pos:])
			var h format.PageHeader
			if err := thrift.NewDecoder(r).Decode(&h); err != nil {
				t.Fatal(err)
			}
			h.CRC = 0
			hdr, err := thrift.Marshal(&compact, &h)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, hdr...)
			body := pos + int64(r.BytesRead())
			out = append(out, data[body:body+int64(h.CompressedPageSize)]...)
			if d := int64(len(hdr) - r.BytesRead()); d != 0 {
				moved = append(moved, struct{ from, delta int64 }{pos, d})
			}
			pos = body + int64(h.CompressedPageSize)
		}
		last = c.end
	}
	out = append(out, data[last:]...)
	for g := range md.RowGroups {
		for j := range md.RowGroups[g].Columns {
			m := &md.RowGroups[g].Columns[j].MetaData
			oldStart := m.DataPageOffset
			if m.DictionaryPageOffset != 0 {
				oldStart = m.DictionaryPageOffset
				m.DictionaryPageOffset = shift(m.DictionaryPageOffset)
			}
			oldEnd := oldStart + m.TotalCompressedSize
			m.DataPageOffset = shift(m.DataPageOffset)
			m.TotalCompressedSize = shift(oldEnd-1) + 1 - shift(oldStart)
		}
	}
	return joinParquet(t, out, md)
}

// The fuzz seeds' rewriting keeps files loadable.
func TestWithoutPageCRCs(t *testing.T) {
	for _, codec := range []compress.Codec{&parquet.Uncompressed, &parquet.Snappy} {
		b := writeParquetWith(t, mixedRows, parquet.Compression(codec), parquet.PageBufferSize(64))
		sameTable(t, readPQ(t, withoutPageCRCs(t, b), Options{}), readPQ(t, b, Options{}))
	}
}

// A page whose data does not match its checksum is rejected, whichever page it is.
func TestParquetPageChecksums(t *testing.T) {
	type row struct {
		C string `parquet:"c,dict"`
		Y string `parquet:"y"`
	}
	b := writeParquetWith(t, []row{{"red", "x"}, {"blue", "y"}, {"red", "x"}}, parquet.DataPageVersion(1))
	readPQ(t, b, Options{}) // intact, with checksums
	for k, want := range []string{
		"data: corrupt Parquet file: row group 1, column 1: page 1: checksum ", // the dictionary page
		"data: corrupt Parquet file: row group 1, column 1: page 2: checksum ", // the data page
	} {
		bad := rewritePage(t, b, 0, k, func(h *format.PageHeader) { h.CRC ^= 1 })
		_, err := ReadParquet(bytes.NewReader(bad), int64(len(bad)), Options{})
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), ", the header says ") {
			t.Errorf("page %d: error %v, want %s…", k+1, err, want)
		}
	}
}
