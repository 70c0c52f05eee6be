package device

import "testing"

func TestOptimKindString(t *testing.T) {
	for k, want := range map[OptimKind]string{
		OptimSGD: "sgd", OptimAdamW: "adamw", OptimLAMB: "lamb", OptimSophia: "sophia",
		OptimAdaHessian: "adahessian", OptimAdaHessian + 1: "OptimKind(5)", 255: "OptimKind(255)",
	} {
		if got := k.String(); got != want {
			t.Errorf("OptimKind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}
