package ops

import (
	"fmt"
	"math"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// Error is the panic value of a misused op; Try turns it into a returned error.
type Error struct {
	Op  string
	Msg string
}

func (e *Error) Error() string { return "ops: " + e.Op + ": " + e.Msg }

func errorf(op, format string, args ...any) *Error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...)}
}

func shp(t *Tensor) string { return tensor.ShapeString(t.Shape()) }

// checkFloat panics unless every tensor is a float tensor; it returns their common device.
func checkFloat(op string, ts ...*Tensor) device.Device {
	var dev device.Device
	var dt tensor.DType
	for i, t := range ts {
		if t == nil {
			panic(errorf(op, "operand %d is nil", i))
		}
		if t.Released() {
			panic(errorf(op, "operand %d (shape %s) has been released (was its scope closed?)", i, shp(t)))
		}
		if !isFloatDType(t.DType()) {
			panic(errorf(op, "operand %d has dtype %s; want float32, float64, bfloat16 or float16", i, t.DType()))
		}
		if dev == nil {
			dev, dt = t.Device(), t.DType()
			continue
		}
		if t.DType() != dt {
			panic(errorf(op, "operands have dtypes %s and %s", dt, t.DType()))
		}
		if t.Device() != dev {
			panic(errorf(op, "operands live on %s and %s", dev.Name(), t.Device().Name()))
		}
	}
	return dev
}

// checkFinite panics unless every scalar parameter is finite.
func checkFinite(op string, names string, vs ...float64) {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			panic(errorf(op, "%s must be finite, got %v", names, vs))
		}
	}
}

// normAxis turns a possibly negative axis into [0, rank).
func normAxis(op string, axis, rank int) int {
	a := axis
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		panic(errorf(op, "axis %d out of range for a tensor of rank %d", axis, rank))
	}
	return a
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// CheckFinite returns an error naming the first tensor of ts that holds a NaN or an infinity
// (a diverged parameter, a loss that overflowed), or nil. It reduces on the device and reads
// back one number per tensor.
func CheckFinite(what string, ts ...*Tensor) error {
	return Try(func() error {
		for i, t := range ts {
			if t.Len() == 0 {
				continue
			}
			c := tensor.NewContext()
			c.SetGradEnabled(false)
			ok := MinAll(IsFinite(c.View(t))).Item()
			c.Close()
			if ok != 1 {
				return fmt.Errorf("ops: %s: tensor %d (shape %s) holds NaN or infinite values", what, i, shp(t))
			}
		}
		return nil
	})
}
