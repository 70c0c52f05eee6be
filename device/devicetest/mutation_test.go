package devicetest

import (
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/device/cpu"
)

// TestWrongReferenceFails breaks one rule of a reference at a time and runs the suite on the
// (correct) CPU backend: every mutation must fail some case of each kind whose rule it
// breaks. A mutation that passes would mean no case exercises that rule, so a backend with
// the same bug would pass too.
func TestWrongReferenceFails(t *testing.T) {
	all := []string{"sgd", "adamw", "lamb", "sophia", "adahessian"}
	for _, c := range []struct {
		mutation, prim string
		kinds          []string // kinds (case-name words) that must each fail at least once
	}{
		{"grad-scale-ignored", "OptimizerStep", all},
		{"weight-decay-ignored", "OptimizerStep", all},
		{"bias-correction-flipped", "OptimizerStep", []string{"adamw", "lamb", "adahessian"}},
		{"step-off-by-one", "OptimizerStep", []string{"adamw", "lamb", "adahessian"}},
		{"sgd-buffer-not-seeded", "OptimizerStep", []string{"sgd"}},
		{"nesterov-flipped", "OptimizerStep", []string{"sgd"}},
		{"amsgrad-ignored", "OptimizerStep", []string{"adamw"}},
		{"adamw-coupled-decay", "OptimizerStep", []string{"adamw"}},
		{"lamb-no-trust-ratio", "OptimizerStep", []string{"lamb"}},
		{"sophia-no-clip", "OptimizerStep", []string{"sophia"}},
		{"hessian-power-ignored", "OptimizerStep", []string{"adahessian"}},
		{"bsr-column-major-blocks", "BSRMatMul", nil},
		{"bsr-drop-last-block", "BSRMatMul", nil},
	} {
		t.Run(c.mutation, func(t *testing.T) {
			rs := Run(cpu.Default(), Options{Quick: true, Primitives: []string{c.prim}, mutation: c.mutation})
			failedKinds := map[string]int{}
			failed := 0
			for _, r := range rs {
				if r.Primitive != c.prim || r.Pass {
					continue
				}
				failed++
				if f := strings.Fields(r.Case); len(f) > 1 {
					failedKinds[f[1]]++
				}
			}
			if failed == 0 {
				t.Fatalf("every %s case passed against a reference with %s", c.prim, c.mutation)
			}
			for _, k := range c.kinds {
				if failedKinds[k] == 0 {
					t.Errorf("no %s case failed against a reference with %s (failures: %v)", k, c.mutation, failedKinds)
				}
			}
		})
	}
}
