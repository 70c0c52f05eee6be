package tabpfn

import (
	"testing"

	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/models/tabpfn/prior"
	"github.com/kiln-ml/kiln/ops"
	"github.com/kiln-ml/kiln/tensor"
)

// BenchmarkTrainStep times one forward+backward of the SmallConfig model (the size a new
// training run starts from) on a prior batch of the training run's shape.
func BenchmarkTrainStep(b *testing.B) {
	dev := device.MustGet("cpu")
	m, err := New(dev, SmallConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Release()
	pc := DefaultTrainConfig().Prior
	s, err := prior.NewSampler(pc)
	if err != nil {
		b.Fatal(err)
	}
	in, yTest := InputFromBatch(s.Batch(0), 1)
	b.Logf("batch %d rows %d features %d ntrain %d", in.Batch, in.Rows, in.Features, in.NTrain)
	ec := tensor.NewContext()
	defer ec.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc := ec.NewScope()
		ops.Backward(m.Loss(ec, in, yTest))
		ops.ZeroGrad(m.Parameters()...)
		sc.Close()
	}
}
