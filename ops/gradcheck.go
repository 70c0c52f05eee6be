package ops

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/rng"
	"github.com/kiln-ml/kiln/tensor"
)

// GradCheck compares the gradients that autograd computes for f at inputs with central
// finite differences, (f(x+εeⱼ) − f(x−εeⱼ))/2ε for every element j of every input, and returns
// an error describing the worst mismatches (nil when all agree within tol, measured as
// |analytic − numeric| ≤ tol·max(1, |numeric|)).
//
// Inputs must be float64 leaf tensors (finite differences in float32 are too coarse); they
// are marked as requiring gradients for the check and restored afterwards. f may return a
// tensor of any shape: it is reduced to a scalar with fixed pseudo-random weights, so every
// output element contributes. Non-differentiable arguments (indices, masks) are closed over
// by f. f receives stand-ins for the inputs in an execution context of the check's own (see
// In), so everything it computes, and everything the check allocates, is released before the
// check returns.
func GradCheck(f func(xs []*Tensor) *Tensor, inputs []*Tensor, eps, tol float64) error {
	return Try(func() error {
		if err := checkInputs(inputs); err != nil {
			return err
		}
		restore := markInputs(inputs)
		defer restore()
		c := tensor.NewContext()
		defer c.Close()
		xs := In(c, inputs...)

		var weights *Tensor
		c.NoGrad(func() { weights = projection(f(xs), 1) })
		scalar := func() *Tensor {
			y := f(xs)
			return SumAll(Mul(y, weights))
		}
		analytic := Grad([]*Tensor{scalar()}, inputs, nil, false)
		numeric := make([][]float64, len(inputs))
		eval := func() float64 {
			var v float64
			c.NoGrad(func() {
				inner := c.NewScope()
				defer inner.Close()
				v = scalar().Item()
			})
			return v
		}
		for i, x := range inputs {
			data := x.Float64s()
			numeric[i] = make([]float64, len(data))
			for j := range data {
				orig := data[j]
				data[j] = orig + eps
				write(x, data)
				fp := eval()
				data[j] = orig - eps
				write(x, data)
				fm := eval()
				data[j] = orig
				write(x, data)
				numeric[i][j] = (fp - fm) / (2 * eps)
			}
		}
		return compare("gradient", analytic, numeric, tol)
	})
}

// HVPCheck compares the Hessian-vector product that double backward computes (HVP) for the
// scalarisation φ(x) = Σ r⊙f(x) + ½Σ f(x)² with central finite differences of the gradient
// along a random direction v, (∇φ(x+εv) − ∇φ(x−εv))/2ε. The quadratic term makes the output
// gradient that reaches f depend on x, so every op's backward is exercised as a function of
// both its inputs and its incoming gradient. Conventions are those of GradCheck.
func HVPCheck(f func(xs []*Tensor) *Tensor, inputs []*Tensor, eps, tol float64) error {
	return Try(func() error {
		if err := checkInputs(inputs); err != nil {
			return err
		}
		restore := markInputs(inputs)
		defer restore()
		c := tensor.NewContext()
		defer c.Close()
		xs := In(c, inputs...)

		var weights *Tensor
		c.NoGrad(func() { weights = projection(f(xs), 2) })
		phi := func() *Tensor {
			y := f(In(c, inputs...))
			return Add(SumAll(Mul(y, weights)), MulScalar(SumAll(Square(y)), 0.5))
		}
		vs := make([]*Tensor, len(inputs))
		for i := range inputs {
			vs[i] = projection(xs[i], uint64(100+i))
		}
		analytic := HVP(c, phi, inputs, vs)

		base := make([][]float64, len(inputs))
		dirs := make([][]float64, len(inputs))
		for i, x := range inputs {
			base[i], dirs[i] = x.Float64s(), vs[i].Float64s()
		}
		shift := func(sign float64) [][]float64 {
			for i, x := range inputs {
				d := make([]float64, len(base[i]))
				for j := range d {
					d[j] = base[i][j] + sign*eps*dirs[i][j]
				}
				write(x, d)
			}
			inner := c.NewScope()
			defer inner.Close()
			g := Grad([]*Tensor{phi()}, inputs, nil, false)
			out := make([][]float64, len(g))
			for i := range g {
				out[i] = g[i].Float64s()
			}
			return out
		}
		gp := shift(1)
		gm := shift(-1)
		for i, x := range inputs {
			write(x, base[i])
		}
		numeric := make([][]float64, len(inputs))
		for i := range gp {
			numeric[i] = make([]float64, len(gp[i]))
			for j := range gp[i] {
				numeric[i][j] = (gp[i][j] - gm[i][j]) / (2 * eps)
			}
		}
		return compare("Hessian-vector product", analytic, numeric, tol)
	})
}

func checkInputs(inputs []*Tensor) error {
	for i, x := range inputs {
		if x.DType() != tensor.Float64 {
			return fmt.Errorf("ops: gradcheck: input %d is %s; finite differences need float64", i, x.DType())
		}
		if nodeOf(x) != nil {
			return fmt.Errorf("ops: gradcheck: input %d is the output of an op; pass leaf tensors", i)
		}
	}
	return nil
}

func markInputs(inputs []*Tensor) func() {
	prev := make([]bool, len(inputs))
	for i, x := range inputs {
		prev[i] = x.RequiresGrad()
		x.SetRequiresGrad(true)
	}
	return func() {
		for i, x := range inputs {
			x.SetRequiresGrad(prev[i])
		}
	}
}

// projection draws fixed weights in [−1, 1) shaped like t, in t's context.
func projection(t *Tensor, seed uint64) *Tensor {
	w := make([]float64, t.Len())
	rng.FillUniform(w, 0x9e3779b97f4a7c15^seed, 0, 0, -1, 1)
	return t.Context().FromFloat64As(t.Device(), t.DType(), w, t.Shape()...)
}

func write(x *Tensor, data []float64) {
	if err := x.Device().CopyFromHost(x.Buffer(), data); err != nil {
		panic(err)
	}
}

func compare(what string, analytic []*Tensor, numeric [][]float64, tol float64) error {
	var msgs []string
	worst := 0.0
	for i, a := range analytic {
		av := a.Float64s()
		for j, n := range numeric[i] {
			d := math.Abs(av[j] - n)
			lim := tol * math.Max(1, math.Abs(n))
			bad := d > lim || math.IsNaN(av[j]) || math.IsNaN(n)
			if bad {
				worst = math.Max(worst, d)
				if len(msgs) < 5 {
					msgs = append(msgs, fmt.Sprintf("input %d element %d: autograd %.10g, finite differences %.10g", i, j, av[j], n))
				}
			}
		}
	}
	if msgs == nil {
		return nil
	}
	return fmt.Errorf("ops: %s check failed (largest difference %.3g, tol %.3g): %v", what, worst, tol, msgs)
}
