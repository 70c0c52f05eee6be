// Package rng is kiln's counter-based random number generator: Philox-4x32-10 (Salmon,
// Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
//
// A counter-based generator computes the n-th number of a stream directly from (key,
// counter), with no sequential state, so every backend (Go on the CPU, a CUDA kernel on the
// GPU) and every goroutine or thread draws exactly the same numbers for the same seed. The
// mapping that every backend reproduces is:
//
//	key     = (uint32(seed), uint32(seed>>32))
//	counter = (uint32(c), uint32(c>>32), 0, 0) with c = offset + i/4
//	lane    = i mod 4 of Philox4x32_10(counter, key)
//
// Element i of a uniform fill is a + (b−a)·(x+0.5)·2⁻³², computed in float64, where x is
// that lane. Element i of a normal fill uses the Box–Muller transform on the pair of lanes
// (0,1) or (2,3) that holds it: with u₁, u₂ the uniforms of the pair's first and second lane,
// r = √(−2 ln u₁), the first lane gets mean + sd·r·cos(2πu₂) and the second mean + sd·r·sin(2πu₂).
// A fill of n elements advances the offset by ⌈n/4⌉, which Stream does for callers that
// want consecutive draws not to overlap.
package rng

import (
	"math"
	"math/bits"
)

const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// Philox4x32 applies the 10-round Philox-4x32 bijection to counter under key.
func Philox4x32(ctr [4]uint32, key [2]uint32) [4]uint32 {
	for r := 0; r < 10; r++ {
		if r > 0 {
			key[0] += philoxW0
			key[1] += philoxW1
		}
		hi0, lo0 := bits.Mul32(philoxM0, ctr[0])
		hi1, lo1 := bits.Mul32(philoxM1, ctr[2])
		ctr = [4]uint32{hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0}
	}
	return ctr
}

// Block returns the four lanes for counter c under seed.
func Block(seed, c uint64) [4]uint32 {
	return Philox4x32([4]uint32{uint32(c), uint32(c >> 32), 0, 0}, [2]uint32{uint32(seed), uint32(seed >> 32)})
}

const twoPow32Inv = 1.0 / 4294967296.0

// ToUnit maps a 32-bit draw to the open interval (0, 1).
func ToUnit(x uint32) float64 { return (float64(x) + 0.5) * twoPow32Inv }

// UniformAt returns element i of a uniform [a, b) fill.
func UniformAt(seed, offset uint64, i int, a, b float64) float64 {
	blk := Block(seed, offset+uint64(i)/4)
	return a + (b-a)*ToUnit(blk[i%4])
}

// NormalAt returns element i of a normal fill with the given mean and standard deviation.
func NormalAt(seed, offset uint64, i int, mean, sd float64) float64 {
	blk := Block(seed, offset+uint64(i)/4)
	lane := i % 4
	first := lane &^ 1
	u1, u2 := ToUnit(blk[first]), ToUnit(blk[first+1])
	r := math.Sqrt(-2 * math.Log(u1))
	if lane == first {
		return mean + sd*r*math.Cos(2*math.Pi*u2)
	}
	return mean + sd*r*math.Sin(2*math.Pi*u2)
}

// FillUniform writes elements [start, start+len(dst)) of a uniform fill into dst.
func FillUniform(dst []float64, seed, offset uint64, start int, a, b float64) {
	for j := range dst {
		dst[j] = UniformAt(seed, offset, start+j, a, b)
	}
}

// FillNormal writes elements [start, start+len(dst)) of a normal fill into dst.
func FillNormal(dst []float64, seed, offset uint64, start int, mean, sd float64) {
	for j := range dst {
		dst[j] = NormalAt(seed, offset, start+j, mean, sd)
	}
}

// Blocks is the number of counters a fill of n elements consumes.
func Blocks(n int) uint64 { return uint64((n + 3) / 4) }

// Stream hands out non-overlapping counter ranges under one seed, so that successive random
// tensors made from one seed differ while staying reproducible.
type Stream struct {
	Seed   uint64
	Offset uint64
}

// Next reserves the counters for n elements and returns the offset to fill them from.
func (s *Stream) Next(n int) uint64 {
	off := s.Offset
	s.Offset += Blocks(n)
	return off
}
