package cpu

import (
	"math"
	"testing"

	"github.com/kiln-ml/kiln/device"
)

func TestSizeClass(t *testing.T) {
	prev := 0
	for n := minRecycled; n < 1<<22; n += 1 + n/97 {
		c := sizeClass(n)
		switch {
		case c < n:
			t.Fatalf("sizeClass(%d) = %d: below the request", n, c)
		case 8*(c-n) > n:
			t.Fatalf("sizeClass(%d) = %d: more than an eighth unused", n, c)
		case sizeClass(c) != c:
			t.Fatalf("sizeClass(%d) = %d, whose own class is %d", n, c, sizeClass(c))
		case c < prev:
			t.Fatalf("sizeClass(%d) = %d, below the class %d of a smaller size", n, c, prev)
		}
		prev = c
	}
	// Powers of two are classes of their own; eight classes lie above each.
	for _, n := range []int{1 << 12, 1 << 16, 1 << 20} {
		if c := sizeClass(n); c != n {
			t.Fatalf("sizeClass(%d) = %d", n, c)
		}
		if c := sizeClass(n + 1); c != n+n/8 {
			t.Fatalf("sizeClass(%d) = %d, want %d", n+1, c, n+n/8)
		}
	}
}

// TestRecycledMemory frees buffers and allocates their size again: an allocation served
// with recycled memory must count as a cache hit, be zeroed by Alloc, and leave the freed
// buffer failing loudly; AllocUninit's contents are NaN under poisonUninit.
func TestRecycledMemory(t *testing.T) {
	d := &Device{}
	const n = 3 * minRecycled
	for _, dt := range []device.DType{device.Float32, device.Float64} {
		hits := 0
		for range 20 { // a collection may empty the pools between Free and Alloc
			a, err := d.AllocUninit(dt, n)
			if err != nil {
				t.Fatal(err)
			}
			d.Fill(a, 0, n, 7)
			a.Free()
			before := d.MemStats().CacheHits
			b := alloc(t, d, dt, n)
			if d.MemStats().CacheHits > before {
				hits++
			}
			for i, v := range values(b) {
				if v != 0 {
					t.Fatalf("%s: element %d of a recycled Alloc is %v, want 0", dt, i, v)
				}
			}
			mustPanic(t, "freed", func() { d.Fill(a, 0, 1, 1) })
			b.Free()
		}
		if hits == 0 {
			t.Fatalf("%s: no allocation of a freed size reused its memory", dt)
		}
	}
	// Small buffers are the heap's; a recycled slice never serves a larger request.
	s, _ := d.f32s.get(minRecycled-1, false)
	d.f32s.put(s)
	if got, recycled := d.f32s.get(minRecycled-1, false); recycled || len(got) != minRecycled-1 {
		t.Fatalf("a small slice was recycled (len %d)", len(got))
	}
	s, _ = d.f32s.get(minRecycled, false)
	d.f32s.put(s)
	if got, _ := d.f32s.get(minRecycled+1, false); len(got) != minRecycled+1 || cap(got) < minRecycled+1 {
		t.Fatalf("get(%d) returned len %d cap %d", minRecycled+1, len(got), cap(got))
	}

	defer func(p bool) { poisonUninit = p }(poisonUninit)
	poisonUninit = true
	b, err := d.AllocUninit(device.Float32, n)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range Float32s(b) {
		if !math.IsNaN(float64(v)) {
			t.Fatalf("element %d of a poisoned AllocUninit is %v", i, v)
		}
	}
}

// values returns a live float32 or float64 buffer's contents as float64.
func values(b device.Buffer) []float64 {
	if b.DType() == device.Float64 {
		return Float64s(b)
	}
	out := make([]float64, b.Len())
	for i, v := range Float32s(b) {
		out[i] = float64(v)
	}
	return out
}
