package rng

import (
	"math"
	"testing"
)

// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
func TestPhiloxKnownAnswers(t *testing.T) {
	cases := []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff}, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0}, [4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, c := range cases {
		if got := Philox4x32(c.ctr, c.key); got != c.want {
			t.Errorf("Philox4x32(%08x, %08x) = %08x, want %08x", c.ctr, c.key, got, c.want)
		}
	}
}

func TestUniformAndNormalMoments(t *testing.T) {
	const n = 200000
	u := make([]float64, n)
	z := make([]float64, n)
	FillUniform(u, 42, 7, 0, -1, 3)
	FillNormal(z, 42, 7, 0, 2, 0.5)
	var su, sz, sz2 float64
	for i := range u {
		if u[i] < -1 || u[i] >= 3 {
			t.Fatalf("uniform draw %v outside [-1, 3)", u[i])
		}
		su += u[i]
		sz += z[i]
		sz2 += (z[i] - 2) * (z[i] - 2)
	}
	// Standard errors: uniform mean sd = 4/√12/√n ≈ 0.0026; normal mean 0.5/√n ≈ 0.0011.
	if m := su / n; math.Abs(m-1) > 0.015 {
		t.Errorf("uniform mean %v, want 1", m)
	}
	if m := sz / n; math.Abs(m-2) > 0.006 {
		t.Errorf("normal mean %v, want 2", m)
	}
	if sd := math.Sqrt(sz2 / n); math.Abs(sd-0.5) > 0.005 {
		t.Errorf("normal sd %v, want 0.5", sd)
	}
}

func TestFillsAreAddressable(t *testing.T) {
	// Element i must not depend on where a fill starts: a fill from 5 equals the tail of a
	// fill from 0. This is what lets goroutines and GPU threads fill disjoint ranges.
	all := make([]float64, 40)
	tail := make([]float64, 35)
	FillNormal(all, 9, 3, 0, 0, 1)
	FillNormal(tail, 9, 3, 5, 0, 1)
	for j := range tail {
		if tail[j] != all[5+j] {
			t.Fatalf("element %d differs: %v vs %v", 5+j, tail[j], all[5+j])
		}
	}
	var s Stream
	if a, b := s.Next(9), s.Next(1); a != 0 || b != 3 {
		t.Errorf("stream offsets %d, %d; want 0, 3", a, b)
	}
}
