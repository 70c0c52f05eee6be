package data

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// The Parquet library trusts the sizes and counts a file declares: it allocates a footer of the
// declared length, slices of the declared list lengths, page buffers of the declared page
// sizes and level buffers of the declared value counts before reading what they describe, and
// some decompressors grow their output without bound on corrupt input. A few corrupt bytes
// could so make it allocate gigabytes. The checks here run before the library reads each of
// those, and hold every declared size to what the file itself can back:
//
//   - the footer length to the file size, and every length and list count in the footer's
//     Thrift encoding to the bytes left in the footer;
//   - the table to parquetMaxCells(file size) cells (see ReadParquet);
//   - each column chunk to the file, its value count to its row group's row count, and its
//     pages (walked header by header) to the chunk, their value counts to the chunk's;
//   - each compressed page to the declared uncompressed size, decompressed here once with
//     the output counted, not kept, and that size to parquetMaxPageBytes;
//   - each page to its checksum, when it has one.

// parquetCellsPerByte and parquetMinCells set the largest table a Parquet file may declare:
// parquetMinCells cells, or parquetCellsPerByte cells per byte of file if that is more. Real
// files come nowhere near (a double costs about a byte even compressed well; run-length
// encoding can pack a constant column tighter, but a table of mostly constant columns is not
// one to learn from); a corrupt row count usually exceeds it by orders of magnitude.
const (
	parquetCellsPerByte = 1024
	parquetMinCells     = 1 << 20
)

// parquetMaxCells is the most cells (rows × columns) a Parquet file of size bytes may declare.
func parquetMaxCells(size int64) int64 {
	return max(parquetMinCells, parquetCellsPerByte*size)
}

// parquetMaxPageBytes is the largest uncompressed size a page of compressed bytes may declare:
// 8 MiB whatever the compression (writers aim at 1 MiB pages), more only at a ratio of at most
// 1024, about the most deflate reaches.
func parquetMaxPageBytes(compressed int64) int64 {
	return max(8<<20, 1024*compressed)
}

// checkParquetFooter checks the footer of a Parquet file of size bytes (at least
// parquetMinSize) before the library reads it: the length in the last 8 bytes must fit in the
// file, and the Thrift encoding must be well formed with every length within it.
func checkParquetFooter(r io.ReaderAt, size int64) error {
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return fmt.Errorf("data: reading the Parquet footer: %w", err)
	}
	if string(tail[4:]) != parquetMagic {
		return fmt.Errorf("data: truncated or corrupt Parquet file: it does not end with the magic bytes %q", parquetMagic)
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > size-parquetMinSize {
		return fmt.Errorf("data: truncated or corrupt Parquet file: the footer is declared %d bytes long, the file has %d bytes", n, size)
	}
	t := newThriftReader(io.NewSectionReader(r, size-8-n, n), n)
	if err := t.skipStruct(); err != nil {
		return fmt.Errorf("data: corrupt Parquet file: footer: %w", err)
	}
	return nil
}

// checkParquetLayout checks the metadata of an opened file and walks its pages; see above.
// ncols is the number of (flat) columns.
func checkParquetLayout(r io.ReaderAt, size int64, f *parquet.File, ncols int) error {
	var tail [4]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return fmt.Errorf("data: reading the Parquet footer: %w", err)
	}
	dataEnd := size - 8 - int64(binary.LittleEndian.Uint32(tail[:])) // where the footer starts
	md := f.Metadata()
	if md.NumRows < 0 {
		return fmt.Errorf("data: corrupt Parquet file: %d rows", md.NumRows)
	}
	if limit := parquetMaxCells(size); md.NumRows > limit/int64(ncols) {
		return fmt.Errorf("data: the Parquet file declares %d rows of %d columns, more than %d cells (%d per byte of its %d bytes): the file is corrupt or a decompression bomb",
			md.NumRows, ncols, limit, parquetCellsPerByte, size)
	}
	var rows int64
	for g, rg := range md.RowGroups {
		if len(rg.Columns) != ncols {
			return fmt.Errorf("data: corrupt Parquet file: row group %d has %d columns, the schema %d", g+1, len(rg.Columns), ncols)
		}
		if rg.NumRows < 0 || rg.NumRows > md.NumRows-rows {
			return fmt.Errorf("data: corrupt Parquet file: row group %d declares %d rows, the file %d in all", g+1, rg.NumRows, md.NumRows)
		}
		rows += rg.NumRows
		for j := range rg.Columns {
			if err := checkParquetChunk(r, &rg.Columns[j], rg.NumRows, dataEnd); err != nil {
				return fmt.Errorf("data: corrupt Parquet file: row group %d, column %d: %w", g+1, j+1, err)
			}
		}
	}
	if rows != md.NumRows {
		return fmt.Errorf("data: corrupt Parquet file: the row groups hold %d rows, the file declares %d", rows, md.NumRows)
	}
	return nil
}

// checkParquetChunk checks one column chunk of a row group of rows rows, whose pages must lie
// before dataEnd, and walks its pages.
func checkParquetChunk(r io.ReaderAt, cc *format.ColumnChunk, rows, dataEnd int64) error {
	md := &cc.MetaData
	if cc.FilePath != "" {
		return errors.New("the column's data is in another file")
	}
	switch md.Codec {
	case format.Uncompressed, format.Snappy, format.Gzip, format.Brotli, format.Zstd, format.Lz4Raw:
	default:
		return fmt.Errorf("compression codec %s is not supported", md.Codec)
	}
	if md.NumValues != rows {
		return fmt.Errorf("%d values in a row group of %d rows", md.NumValues, rows)
	}
	// The library reads the chunk from its dictionary page when it has one, else from its
	// first data page, for TotalCompressedSize bytes.
	start := md.DataPageOffset
	if md.DictionaryPageOffset != 0 {
		start = md.DictionaryPageOffset
	}
	if start < int64(len(parquetMagic)) || md.TotalCompressedSize <= 0 || md.TotalCompressedSize > dataEnd-start {
		return fmt.Errorf("%d bytes at offset %d lie outside the data section, which ends at offset %d", md.TotalCompressedSize, start, dataEnd)
	}
	end := start + md.TotalCompressedSize
	sr := io.NewSectionReader(r, start, md.TotalCompressedSize)
	br := bufio.NewReaderSize(sr, 4096)
	pos := start
	var values int64
	for pageNum := 1; pos < end; pageNum++ {
		t := newThriftReader(br, end-pos)
		h, err := t.pageHeader()
		if err != nil {
			return fmt.Errorf("page %d: header: %w", pageNum, err)
		}
		pos += t.used
		if h.compressed < 0 || h.uncompressed < 0 || int64(h.compressed) > end-pos {
			return fmt.Errorf("page %d: %d bytes (%d uncompressed) at offset %d overrun the chunk, which ends at %d", pageNum, h.compressed, h.uncompressed, pos, end)
		}
		if h.numValues < 0 {
			return fmt.Errorf("page %d: %d values", pageNum, h.numValues)
		}
		switch h.kind {
		case format.DataPage, format.DataPageV2:
			if int64(h.numValues) > md.NumValues-values {
				return fmt.Errorf("page %d: %d more values than the chunk's %d", pageNum, int64(h.numValues)-(md.NumValues-values), md.NumValues)
			}
			values += int64(h.numValues)
		case format.DictionaryPage:
			if int64(h.numValues) > md.NumValues {
				return fmt.Errorf("page %d: a dictionary of %d values for %d values", pageNum, h.numValues, md.NumValues)
			}
		case format.IndexPage:
		default:
			return fmt.Errorf("page %d: unknown page type %d", pageNum, h.kind)
		}
		page := make([]byte, h.compressed)
		if _, err := io.ReadFull(br, page); err != nil {
			return fmt.Errorf("page %d: %w", pageNum, err)
		}
		pos += int64(h.compressed)
		// The checksum covers the page as stored. The library skips the check when it reads a
		// dictionary page ahead of the data pages, so it is checked here for every page.
		if h.hasCRC {
			if got := crc32.ChecksumIEEE(page); got != uint32(h.crc) {
				return fmt.Errorf("page %d: checksum %08x, the header says %08x", pageNum, got, uint32(h.crc))
			}
		}
		payload, codec, want := page, md.Codec, int64(h.uncompressed)
		if h.kind == format.DataPageV2 {
			// Levels come first, never compressed, and count in both sizes.
			levels := int64(h.defLevelBytes) + int64(h.repLevelBytes)
			if h.defLevelBytes < 0 || h.repLevelBytes < 0 || levels > int64(len(page)) || levels > want {
				return fmt.Errorf("page %d: %d bytes of levels in a page of %d", pageNum, levels, h.compressed)
			}
			payload, want = page[levels:], want-levels
			if !h.compressedV2 {
				codec = format.Uncompressed
			}
		}
		if err := checkPageData(codec, payload, want); err != nil {
			return fmt.Errorf("page %d: %w", pageNum, err)
		}
	}
	if values != md.NumValues {
		return fmt.Errorf("the pages hold %d values, the chunk declares %d", values, md.NumValues)
	}
	return nil
}

// checkPageData checks that the data of a page decompresses with codec to exactly want bytes,
// the declared uncompressed size, which must be at most parquetMaxPageBytes(len(src)). The
// output is counted, not kept. Uncompressed data needs no check: the library allocates nothing
// by the declared size of an uncompressed page.
func checkPageData(codec format.CompressionCodec, src []byte, want int64) error {
	if codec == format.Uncompressed {
		return nil
	}
	n := int64(len(src))
	if limit := parquetMaxPageBytes(n); want > limit {
		return fmt.Errorf("%d compressed bytes declare %d uncompressed, more than the %d allowed", n, want, limit)
	}
	var got int64
	var err error
	switch codec {
	case format.Snappy:
		var dl int
		if dl, err = snappy.DecodedLen(src); err == nil {
			got = int64(dl) // the decoder allocates exactly this; corrupt data fails without growing
		}
	case format.Lz4Raw:
		// The library retries a failed block with twice the buffer, forever: the block must
		// fit the declared size.
		var dl int
		if dl, err = lz4.UncompressBlock(src, make([]byte, want)); err == nil {
			got = int64(dl)
		}
	case format.Gzip:
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(src)); err == nil {
			got, err = countUpTo(zr, want)
		}
	case format.Brotli:
		got, err = countUpTo(brotli.NewReader(bytes.NewReader(src)), want)
	case format.Zstd:
		// DecodeAll into a buffer of the declared size, limited to it: the streaming decoder
		// would allocate the window the frame declares (up to gigabytes) before decoding.
		var dec *zstd.Decoder
		if dec, err = zstdCheckDecoder(); err == nil {
			var out []byte
			out, err = dec.DecodeAll(src, make([]byte, 0, want))
			got = int64(len(out))
		}
	}
	if err != nil {
		return fmt.Errorf("%s data: %w", codec, err)
	}
	if got != want {
		return fmt.Errorf("%s data decompresses to %d bytes, the page declares %d", codec, got, want)
	}
	return nil
}

// zstdCheckDecoder is the decoder of checkPageData, shared: a zstd decoder is costly to set up
// and DecodeAll may be called concurrently.
var zstdCheckDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecodeAllCapLimit(true))
})

// countUpTo reads r to its end and returns how many bytes it produced, stopping with an error
// once that exceeds limit.
func countUpTo(r io.Reader, limit int64) (int64, error) {
	n, err := io.Copy(io.Discard, io.LimitReader(r, limit+1))
	if err != nil {
		return n, err
	}
	if n > limit {
		return n, fmt.Errorf("more than the %d bytes declared", limit)
	}
	return n, nil
}

// pageHeader is what checkParquetChunk needs of a Thrift PageHeader.
type pageHeader struct {
	kind                         format.PageType
	uncompressed, compressed     int32
	crc                          int32
	hasCRC                       bool
	numValues                    int32 // of the data or dictionary page header
	defLevelBytes, repLevelBytes int32 // of a v2 data page
	compressedV2                 bool  // whether a v2 data page's values are compressed
}

// thriftReader reads Thrift's compact protocol from r, using at most left bytes, so that a
// length or count can be checked against the bytes that could back it before anything is
// read by it. It keeps nothing but what pageHeader asks for.
type thriftReader struct {
	r     io.ByteReader
	skip  func(int) (int, error)
	left  int64 // bytes the encoding may still use
	used  int64 // bytes read so far
	depth int
}

// maxThriftDepth bounds the nesting of structs and containers: Parquet metadata nests about
// six deep, and a bound keeps corrupt input from recursing without end.
const maxThriftDepth = 64

// Compact protocol types.
const (
	tBoolTrue  = 1
	tBoolFalse = 2
	tByte      = 3
	tI16       = 4
	tI32       = 5
	tI64       = 6
	tDouble    = 7
	tBinary    = 8
	tList      = 9
	tSet       = 10
	tMap       = 11
	tStruct    = 12
)

var errThriftEnd = errors.New("the encoding runs past its end")

func newThriftReader(r io.Reader, left int64) *thriftReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	return &thriftReader{r: br, skip: br.Discard, left: left}
}

func (t *thriftReader) byte() (byte, error) {
	if t.left <= 0 {
		return 0, errThriftEnd
	}
	b, err := t.r.ReadByte()
	if err != nil {
		return 0, errThriftEnd
	}
	t.left--
	t.used++
	return b, nil
}

func (t *thriftReader) discard(n int64) error {
	if n < 0 || n > t.left {
		return fmt.Errorf("a length of %d with %d bytes left", n, t.left)
	}
	if got, err := t.skip(int(n)); err != nil || int64(got) != n {
		return errThriftEnd
	}
	t.left -= n
	t.used += n
	return nil
}

func (t *thriftReader) uvarint() (uint64, error) {
	var x uint64
	for shift := 0; shift < 64; shift += 7 {
		b, err := t.byte()
		if err != nil {
			return 0, err
		}
		x |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return x, nil
		}
	}
	return 0, errors.New("a varint longer than 10 bytes")
}

// int reads a zigzag varint (i16, i32 or i64).
func (t *thriftReader) int() (int64, error) {
	u, err := t.uvarint()
	return int64(u>>1) ^ -int64(u&1), err
}

// int32 reads an i32 field value, rejecting one that does not fit.
func (t *thriftReader) int32(typ byte) (int32, error) {
	if typ != tI32 {
		return 0, fmt.Errorf("an i32 field of type %d", typ)
	}
	v, err := t.int()
	if err == nil && int64(int32(v)) != v {
		err = fmt.Errorf("i32 value %d out of range", v)
	}
	return int32(v), err
}

// fields reads a struct, calling f with each field's id and type; f reads the value (or calls
// skipValue).
func (t *thriftReader) fields(f func(id int16, typ byte) error) error {
	if t.depth == maxThriftDepth {
		return fmt.Errorf("nested more than %d deep", maxThriftDepth)
	}
	t.depth++
	defer func() { t.depth-- }()
	var id int16
	for {
		b, err := t.byte()
		if err != nil {
			return err
		}
		if b == 0 { // stop
			return nil
		}
		if d := b >> 4; d != 0 {
			id += int16(d)
		} else {
			v, err := t.int()
			if err != nil {
				return err
			}
			id = int16(v)
		}
		if err := f(id, b&0x0f); err != nil {
			return err
		}
	}
}

func (t *thriftReader) skipStruct() error {
	return t.fields(func(_ int16, typ byte) error { return t.skipValue(typ, false) })
}

// skipValue skips a value of type typ; inList says it is a container element, where a boolean
// takes a byte (in a struct field its value is the type itself).
func (t *thriftReader) skipValue(typ byte, inList bool) error {
	switch typ {
	case tBoolTrue, tBoolFalse:
		if inList {
			_, err := t.byte()
			return err
		}
		return nil
	case tByte:
		_, err := t.byte()
		return err
	case tI16, tI32, tI64:
		_, err := t.uvarint()
		return err
	case tDouble:
		return t.discard(8)
	case tBinary:
		n, err := t.uvarint()
		if err != nil {
			return err
		}
		if n > uint64(t.left) {
			return fmt.Errorf("a binary of %d bytes with %d bytes left", n, t.left)
		}
		return t.discard(int64(n))
	case tList, tSet:
		h, err := t.byte()
		if err != nil {
			return err
		}
		n, elem := uint64(h>>4), h&0x0f
		if n == 15 {
			if n, err = t.uvarint(); err != nil {
				return err
			}
		}
		// Every element takes at least a byte, so a count beyond the bytes left is corrupt;
		// the library allocates the list by the count before reading it.
		if n > uint64(t.left) {
			return fmt.Errorf("a list of %d elements with %d bytes left", n, t.left)
		}
		return t.elements(int64(n), func() error { return t.skipValue(elem, true) })
	case tMap:
		n, err := t.uvarint()
		if err != nil || n == 0 {
			return err
		}
		kv, err := t.byte()
		if err != nil {
			return err
		}
		if n > uint64(t.left)/2 {
			return fmt.Errorf("a map of %d entries with %d bytes left", n, t.left)
		}
		return t.elements(int64(n), func() error {
			if err := t.skipValue(kv>>4, true); err != nil {
				return err
			}
			return t.skipValue(kv&0x0f, true)
		})
	case tStruct:
		return t.skipStruct()
	}
	return fmt.Errorf("unknown type %d", typ)
}

// elements calls f n times, one nesting level down.
func (t *thriftReader) elements(n int64, f func() error) error {
	if t.depth == maxThriftDepth {
		return fmt.Errorf("nested more than %d deep", maxThriftDepth)
	}
	t.depth++
	defer func() { t.depth-- }()
	for range n {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// pageHeader reads a PageHeader: type (1), uncompressed_page_size (2), compressed_page_size
// (3), crc (4), and the value count of data_page_header (5), dictionary_page_header (7) or
// data_page_header_v2 (8), with the v2 level lengths and is_compressed flag.
func (t *thriftReader) pageHeader() (pageHeader, error) {
	h := pageHeader{kind: -1, compressedV2: true}
	var seen [4]bool
	err := t.fields(func(id int16, typ byte) error {
		var err error
		switch {
		case id == 1:
			var k int32
			k, err = t.int32(typ)
			h.kind = format.PageType(k)
			seen[1] = true
		case id == 2:
			h.uncompressed, err = t.int32(typ)
			seen[2] = true
		case id == 3:
			h.compressed, err = t.int32(typ)
			seen[3] = true
		case id == 4:
			h.crc, err = t.int32(typ)
			h.hasCRC = true
		case (id == 5 || id == 7 || id == 8) && typ == tStruct:
			v2 := id == 8
			err = t.fields(func(id int16, typ byte) error {
				var err error
				switch {
				case id == 1:
					h.numValues, err = t.int32(typ)
				case v2 && id == 5:
					h.defLevelBytes, err = t.int32(typ)
				case v2 && id == 6:
					h.repLevelBytes, err = t.int32(typ)
				case v2 && id == 7 && (typ == tBoolTrue || typ == tBoolFalse):
					h.compressedV2 = typ == tBoolTrue
				default:
					err = t.skipValue(typ, false)
				}
				return err
			})
		default:
			err = t.skipValue(typ, false)
		}
		return err
	})
	if err != nil {
		return h, err
	}
	if !seen[1] || !seen[2] || !seen[3] {
		return h, errors.New("the type or a size is missing")
	}
	return h, nil
}
