package tabpfn

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/tensor"
)

// The Classifier's public methods follow tensor.Catch's policy: kiln's error panics become
// the method's error, runtime faults and non-error panics are re-raised.
func TestRecoverToFollowsCatch(t *testing.T) {
	run := func(f func()) (err error) {
		defer recoverTo(&err)
		f()
		return nil
	}
	terr := &tensor.Error{Msg: "bad shape"}
	err := run(func() { panic(terr) })
	require.ErrorIs(t, err, terr)
	require.EqualError(t, err, "tabpfn: tensor: bad shape")
	derr := &device.Error{Op: "Gemm", Msg: "out of memory"}
	err = run(func() { panic(derr) })
	var got *device.Error
	require.True(t, errors.As(err, &got))
	require.Same(t, derr, got)

	var s []int
	i := 3
	require.Panics(t, func() { _ = run(func() { _ = s[i] }) })
	require.PanicsWithValue(t, "not an error", func() { _ = run(func() { panic("not an error") }) })
}
