package plotcolor

import "testing"

func TestCategoricalDistinctThenRepeats(t *testing.T) {
	seen := map[[3]uint8]int{}
	for i := range 10 {
		c := Categorical(i)
		key := [3]uint8{c.R, c.G, c.B}
		if j, ok := seen[key]; ok {
			t.Fatalf("series %d and %d share the colour %v", j, i, c)
		}
		seen[key] = i
		if c.A != 255 {
			t.Errorf("series %d: alpha %d, want opaque", i, c.A)
		}
	}
	if Categorical(10) != Categorical(0) || Categorical(23) != Categorical(3) {
		t.Error("the palette does not repeat after ten series")
	}
}
