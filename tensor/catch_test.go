package tensor_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// Catch returns kiln's error panics and re-raises faults of kiln itself: runtime errors and
// panics that are not errors.
func TestCatchPolicy(t *testing.T) {
	terr := &tensor.Error{Msg: "bad shape"}
	require.Same(t, terr, tensor.Catch(func() error { panic(terr) }))
	derr := &device.Error{Op: "Gemm", Msg: "out of memory"}
	require.Same(t, derr, tensor.Catch(func() error { panic(derr) }))
	plain := errors.New("plain error value")
	require.Same(t, plain, tensor.Catch(func() error { panic(plain) }))
	require.Same(t, plain, tensor.Catch(func() error { return plain }))

	var s []int
	i := 3
	require.Panics(t, func() { _ = tensor.Catch(func() error { _ = s[i]; return nil }) })
	require.PanicsWithValue(t, "not an error", func() { _ = tensor.Catch(func() error { panic("not an error") }) })
}
