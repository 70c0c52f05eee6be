package checkpoint

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sort"
	"strconv"
	"strings"
)

// Checksums detect corruption: a flipped bit on disk or in transit, a truncated copy
// patched up by hand. Encode stores, in the metadata,
//
//	crc32c.<name>        the CRC-32C of tensor <name>'s bytes as stored in the file, and
//	crc32c.__metadata__  the CRC-32C of the other metadata entries (checksumMetadata),
//
// each as 8 lowercase hex digits; Decode verifies them all and reports a mismatch by the
// tensor's name. "__metadata__" is the safetensors header's own reserved key, so it cannot
// name a tensor and the two kinds of key cannot collide.
//
// CRC-32C (Castagnoli) rather than a cryptographic hash or CRC-32 (IEEE): like any 32-bit
// CRC it detects every single flipped bit and every burst of up to 32, which is what storage
// and copying corrupt; Castagnoli's polynomial was chosen for a larger minimum Hamming
// distance than IEEE's at the lengths of storage blocks (hence iSCSI, SCTP and ext4 use it);
// hash/crc32 computes it with the SSE4.2 and ARMv8 CRC instructions at several GB/s, so
// verifying a checkpoint costs little beside reading it; it needs no dependency and takes 4
// bytes per tensor. It is not an authentication code: whoever can edit a file can recompute
// it. Hostile files are handled by the bounds that Decode and the model loaders check, not by
// the checksums.
const (
	// ChecksumPrefix starts every checksum key; callers cannot use it for their metadata.
	ChecksumPrefix = "crc32c."
	// metadataChecksumKey holds the checksum of the other metadata entries.
	metadataChecksumKey = ChecksumPrefix + metadataKey
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the CRC-32C of b.
func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// formatChecksum writes a checksum as 8 lowercase hex digits.
func formatChecksum(c uint32) string { return fmt.Sprintf("%08x", c) }

// parseChecksum reads exactly 8 lowercase hex digits, so that every change of the stored
// text is a mismatch.
func parseChecksum(s string) (uint32, bool) {
	if len(s) != 8 || strings.ToLower(s) != s {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	return uint32(v), err == nil
}

// checksumMetadata is the CRC-32C of the metadata entries other than checksums, in key
// order, each key and value preceded by its length so that no two different maps encode
// the same bytes.
func checksumMetadata(meta map[string]string) uint32 {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		if !strings.HasPrefix(k, ChecksumPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b []byte
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(meta[k])))
		b = append(b, meta[k]...)
	}
	return checksum(b)
}

// addChecksums returns a copy of meta with the checksums of the tensors (by name, their
// bytes as stored) and of meta itself. It rejects metadata keys that would shadow checksums.
func addChecksums(meta map[string]string, data map[string][]byte) (map[string]string, error) {
	out := make(map[string]string, len(meta)+len(data)+1)
	for k, v := range meta {
		if strings.HasPrefix(k, ChecksumPrefix) {
			return nil, fmt.Errorf("checkpoint: metadata key %q uses the reserved prefix %q", k, ChecksumPrefix)
		}
		out[k] = v
	}
	out[metadataChecksumKey] = formatChecksum(checksumMetadata(meta))
	for name, b := range data {
		out[ChecksumPrefix+name] = formatChecksum(checksum(b))
	}
	return out, nil
}

// verifyChecksums checks the checksums in meta against the tensors (names and bytes as
// stored) and the other metadata entries, and removes the checksum keys from meta. It
// reports whether the file had checksums: a file written before they existed has none and
// is accepted unverified; a file with only some of them is rejected.
func verifyChecksums(meta map[string]string, data map[string][]byte) (bool, error) {
	stored := map[string]string{}
	for k, v := range meta {
		if strings.HasPrefix(k, ChecksumPrefix) {
			stored[k[len(ChecksumPrefix):]] = v
			delete(meta, k)
		}
	}
	if len(stored) == 0 {
		return false, nil
	}
	if err := verifyOne(stored, metadataKey, "metadata", checksumMetadata(meta)); err != nil {
		return true, err
	}
	names := make([]string, 0, len(data))
	for name := range data {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := verifyOne(stored, name, fmt.Sprintf("tensor %q", name), checksum(data[name])); err != nil {
			return true, err
		}
	}
	if len(stored) > 0 {
		extra := make([]string, 0, len(stored))
		for name := range stored {
			extra = append(extra, strconv.Quote(name))
		}
		sort.Strings(extra)
		return true, fmt.Errorf("checkpoint: checksums for absent tensors %s (corrupt header)", strings.Join(extra, ", "))
	}
	return true, nil
}

// verifyOne checks and removes stored[key] against the computed checksum of what.
func verifyOne(stored map[string]string, key, what string, got uint32) error {
	s, ok := stored[key]
	if !ok {
		return fmt.Errorf("checkpoint: %s has no checksum while others do (corrupt header)", what)
	}
	delete(stored, key)
	want, ok := parseChecksum(s)
	if !ok {
		return fmt.Errorf("checkpoint: %s: checksum %q is not 8 lowercase hex digits (corrupt header)", what, s)
	}
	if got != want {
		return fmt.Errorf("checkpoint: %s fails its checksum: CRC-32C %08x, stored %08x (corrupt file)", what, got, want)
	}
	return nil
}
