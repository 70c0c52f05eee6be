package interop_test

import (
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
	gt "gorgonia.org/tensor"

	"github.com/kiln-ml/kiln/device"
	_ "github.com/kiln-ml/kiln/device/cpu"
	"github.com/kiln-ml/kiln/tensor"
	"github.com/kiln-ml/kiln/tensor/interop"
)

func cpu() device.Device { return device.MustGet("cpu") }

func TestMatRoundTrip(t *testing.T) {
	m := mat.NewDense(2, 3, []float64{1, 2, 3, 4, 5, 6.5})
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		x, err := interop.FromMat(cpu(), dt, m)
		if err != nil {
			t.Fatal(err)
		}
		if x.DType() != dt || x.Dim(0) != 2 || x.Dim(1) != 3 {
			t.Fatalf("FromMat gave %s %v", x.DType(), x.Shape())
		}
		back, err := interop.ToMat(x)
		if err != nil {
			t.Fatal(err)
		}
		if !mat.Equal(m, back) {
			t.Fatalf("%s round trip: %v", dt, mat.Formatted(back))
		}
		// A copy, not a view: changing the result leaves the tensor alone.
		back.Set(0, 0, 99)
		if x.Float64s()[0] != 1 {
			t.Fatal("ToMat shares memory with the tensor")
		}
		x.Release()
	}
	// A transposed gonum view is read through At.
	x, err := interop.FromMat(cpu(), tensor.Float64, m.T())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Release()
	if got := x.Float64s(); x.Dim(0) != 3 || got[1] != 4 || got[5] != 6.5 {
		t.Fatalf("FromMat of a transpose: %v %v", x.Shape(), got)
	}
}

func TestMatErrors(t *testing.T) {
	v := tensor.Zeros(cpu(), tensor.Float64, 4)
	defer v.Release()
	if _, err := interop.ToMat(v); err == nil || !strings.Contains(err.Error(), "rank-1") {
		t.Fatalf("ToMat of a vector: %v", err)
	}
	e := tensor.Zeros(cpu(), tensor.Float64, 0, 3)
	defer e.Release()
	if m, err := interop.ToMat(e); err != nil || !m.IsEmpty() {
		t.Fatalf("ToMat of a 0×3 tensor: %v, %v", m, err)
	}
	rel := tensor.Zeros(cpu(), tensor.Float64, 2, 2)
	rel.Release()
	if _, err := interop.ToMat(rel); err == nil {
		t.Fatal("ToMat of a released tensor succeeded")
	}
}

func TestGorgoniaRoundTrip(t *testing.T) {
	for _, x := range []*tensor.Tensor{
		tensor.FromFloat32(cpu(), []float32{1, 2, 3, 4, 5, 6}, 2, 3),
		tensor.FromFloat64(cpu(), []float64{1, -2, 3.25}, 3),
		tensor.FromInt32(cpu(), []int32{7, 8, 9, 10}, 2, 1, 2),
	} {
		d, err := interop.ToGorgonia(x)
		if err != nil {
			t.Fatal(err)
		}
		if got := []int(d.Shape()); !equalInts(got, x.Shape()) {
			t.Fatalf("gorgonia shape %v, tensor %v", got, x.Shape())
		}
		back, err := interop.FromGorgonia(cpu(), d)
		if err != nil {
			t.Fatal(err)
		}
		if back.DType() != x.DType() || !equalInts(back.Shape(), x.Shape()) || !equalFloats(back.Float64s(), x.Float64s()) {
			t.Fatalf("round trip of %s %v gave %s %v %v", x.DType(), x.Shape(), back.DType(), back.Shape(), back.Float64s())
		}
		x.Release()
		back.Release()
	}
	// A transposed gorgonia view is materialised.
	d := gt.New(gt.WithShape(2, 3), gt.WithBacking([]float64{1, 2, 3, 4, 5, 6}))
	if err := d.T(); err != nil {
		t.Fatal(err)
	}
	x, err := interop.FromGorgonia(cpu(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Release()
	if got := x.Float64s(); !equalInts(x.Shape(), []int{3, 2}) || got[1] != 4 || got[2] != 2 {
		t.Fatalf("transposed view: %v %v", x.Shape(), got)
	}
	if _, err := interop.FromGorgonia(cpu(), gt.New(gt.WithShape(2), gt.WithBacking([]int64{1, 2}))); err == nil {
		t.Fatal("FromGorgonia of int64 succeeded")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
