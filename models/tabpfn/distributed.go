package tabpfn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"time"

	"github.com/kiln-ml/kiln/checkpoint"
	"github.com/kiln-ml/kiln/comm"
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/optim"
	"github.com/kiln-ml/kiln/tensor"
)

// Data-parallel training modes (DistConfig.Mode).
const (
	// DistDDP all-reduces the gradients every step and runs the same AdamW step on every
	// rank: one process's training, spread over Size processes.
	DistDDP = "ddp"
	// DistZeRO1 reduce-scatters the gradients, runs the fused AdamW step on each rank's
	// shard of the parameters and optimizer state only, and all-gathers the parameters
	// (Rajbhandari et al., "ZeRO", SC 2020, stage 1): the same update as DistDDP with a
	// Size-th of the optimizer state per rank.
	DistZeRO1 = "zero1"
	// DistDiLoCo runs LocalSteps AdamW steps on each rank's own data, then averages the
	// ranks' parameter change (the outer gradient) and applies it with Nesterov momentum
	// (Douillard et al., "DiLoCo: Distributed Low-Communication Training of Language
	// Models", 2023): one all-reduce of the parameters every LocalSteps steps. (Every
	// mode also all-reduces each step's loss and a stop flag, 16 bytes, so that the ranks
	// report one loss and stop together.)
	DistDiLoCo = "diloco"
)

// DistConfig configures data-parallel training (Trainer.Distribute).
type DistConfig struct {
	Comm comm.Comm
	Mode string // DistDDP (default), DistZeRO1 or DistDiLoCo
	// BucketBytes is the size of the gradient buckets all-reduced by DistDDP: each is
	// started during the step's last backward pass as soon as its gradients are complete,
	// so that communication overlaps the rest of the pass. 0: 512 KiB (the shipped model's
	// 0.7 MB of gradients make two buckets).
	BucketBytes int
	// HashEvery compares a hash of the parameters across ranks every this many steps
	// (DistDiLoCo: at the first synchronisation at or after each such step); a difference
	// is an error on every rank. 0: never.
	HashEvery int
	// LocalSteps (H), OuterLR and OuterMomentum configure DistDiLoCo.
	LocalSteps    int
	OuterLR       float64
	OuterMomentum float64
}

// DefaultDistConfig is DistDDP over c with 512 KiB buckets, a parameter check every 100
// steps, and DiLoCo's outer settings from its paper (outer lr 0.7, Nesterov momentum 0.9)
// with 8 local steps.
func DefaultDistConfig(c comm.Comm) DistConfig {
	return DistConfig{Comm: c, Mode: DistDDP, BucketBytes: 512 << 10, HashEvery: 100, LocalSteps: 8, OuterLR: 0.7, OuterMomentum: 0.9}
}

// Bounds of DistConfig.BucketBytes.
const (
	MinBucketBytes = 4 << 10
	MaxBucketBytes = 1 << 30
)

// CommStats counts what one rank sent into collectives.
type CommStats struct {
	Collectives int64         // collectives called
	Bytes       int64         // payload bytes of those collectives (a reduce-scatter or all-gather counts its full buffer)
	ParamBytes  int64         // of Bytes, those that moved gradients or parameters (not losses, hashes or flags)
	Wait        time.Duration // time spent in calls to the communicator
	// Overlapped counts the DDP gradient buckets whose all-reduce started during the
	// backward pass, before the last gradient was computed.
	Overlapped int64
}

// distributed is the data-parallel state of a Trainer.
type distributed struct {
	cfg        DistConfig
	c          comm.Comm
	rank, size int
	dev        device.Device
	params     []optim.Param // in optimizer group order
	group      []int         // group index of each parameter
	stats      CommStats
	buckets    []*bucket
	bucketOf   map[*tensor.Tensor]int // parameter → its bucket
	itemOf     map[*tensor.Tensor]int // parameter → its item in the bucket
	started    int                    // buckets whose all-reduce has started this step
	zero       *zero1
	dl         *diloco
	scalar     device.Buffer // float64 ×2 on the CPU: the step's loss and stop flag
}

// Distribute makes t one rank of a data-parallel run over dc.Comm: each step it trains on
// its share of the batch (the datasets at positions Rank, Rank+Size, … of what one process
// with the same seed and batch draws), and the ranks combine their work as dc.Mode says.
// The parameters (and, for DiLoCo, its outer state) are broadcast from rank 0 first, so
// every rank starts from rank 0's model. Every rank must call it with the same settings.
// Rank 0 alone writes checkpoints; their optimizer state is AdamW's in every mode, so a
// run resumes on any number of ranks, or on one process without Distribute.
func (t *Trainer) Distribute(dc DistConfig) error {
	if dc.Comm == nil {
		return errors.New("tabpfn: Distribute needs a communicator")
	}
	if dc.Mode == "" {
		dc.Mode = DistDDP
	}
	if dc.BucketBytes <= 0 {
		dc.BucketBytes = 512 << 10
	}
	if dc.BucketBytes < MinBucketBytes || dc.BucketBytes > MaxBucketBytes {
		return fmt.Errorf("tabpfn: gradient buckets of %d bytes: want %d to %d", dc.BucketBytes, MinBucketBytes, MaxBucketBytes)
	}
	d := &distributed{cfg: dc, c: dc.Comm, rank: dc.Comm.Rank(), size: dc.Comm.Size(), dev: t.Model.Dev}
	if bs := t.Cfg.Prior.BatchSize; bs < d.size {
		return fmt.Errorf("tabpfn: a batch of %d datasets cannot be shared by %d ranks (each needs at least one): raise --batch", bs, d.size)
	}
	for gi, g := range t.Opt.Groups() {
		for _, p := range g.Params {
			if p.T.DType() != tensor.Float32 {
				return fmt.Errorf("tabpfn: distributed training takes float32 parameters; %q is %s", p.Name, p.T.DType())
			}
			d.params = append(d.params, p)
			d.group = append(d.group, gi)
		}
	}
	var err error
	if d.scalar, err = cpuDevice().Alloc(device.Float64, 4); err != nil {
		return err
	}
	err = tensor.Catch(func() error {
		for _, p := range d.params {
			if err := d.call(p.T.Len()*4, true, func() error { return d.c.Broadcast(p.T.Buffer(), 0) }); err != nil {
				return err
			}
		}
		switch dc.Mode {
		case DistDDP:
			return d.makeBuckets()
		case DistZeRO1:
			var err error
			d.zero, err = newZero1(d, t.Opt)
			return err
		case DistDiLoCo:
			if dc.LocalSteps < 1 || !(dc.OuterLR > 0) || !(dc.OuterMomentum >= 0 && dc.OuterMomentum < 1) {
				return fmt.Errorf("tabpfn: DiLoCo needs local steps ≥ 1 (got %d), outer lr > 0 (got %v) and outer momentum in [0, 1) (got %v)",
					dc.LocalSteps, dc.OuterLR, dc.OuterMomentum)
			}
			var err error
			d.dl, err = newDiloco(d, t)
			return err
		}
		return fmt.Errorf("tabpfn: unknown distributed mode %q (want %s, %s or %s)", dc.Mode, DistDDP, DistZeRO1, DistDiLoCo)
	})
	if err != nil {
		return err
	}
	t.dist = d
	return nil
}

// Rank and Size of the trainer's run (0 and 1 without Distribute).
func (t *Trainer) Rank() int {
	if t.dist == nil {
		return 0
	}
	return t.dist.rank
}

func (t *Trainer) Size() int {
	if t.dist == nil {
		return 1
	}
	return t.dist.size
}

// CommStats reports this rank's communication so far (zero without Distribute).
func (t *Trainer) CommStats() CommStats {
	if t.dist == nil {
		return CommStats{}
	}
	return t.dist.stats
}

// OptimizerStateBytes is the memory of the optimizer state this rank holds: AdamW's two
// moments for every parameter, or for this rank's shard of them under ZeRO-1.
func (t *Trainer) OptimizerStateBytes() int64 {
	if t.dist != nil && t.dist.zero != nil {
		return int64(2 * 4 * t.dist.zero.shard)
	}
	n := 0
	for _, g := range t.Opt.Groups() {
		for _, p := range g.Params {
			n += p.T.Len() * p.T.DType().Size()
		}
	}
	return int64(2 * n)
}

func cpuDevice() device.Device { return device.MustGet("cpu") }

// call runs one communicator call, counting its bytes and time.
func (d *distributed) call(bytes int, param bool, fn func() error) error {
	start := time.Now()
	err := fn()
	d.stats.Wait += time.Since(start)
	d.stats.Collectives++
	d.stats.Bytes += int64(bytes)
	if param {
		d.stats.ParamBytes += int64(bytes)
	}
	return err
}

// lossWeightDenominator is what a micro-batch's mean loss is divided by besides its own
// size: the whole batch for DDP and ZeRO-1, whose summed gradients must be the gradient of
// the batch's mean loss, and the rank's own datasets for DiLoCo, whose ranks each minimise
// the mean loss of their data.
func (d *distributed) lossWeightDenominator(batch, local int) int {
	if d.dl != nil {
		return local
	}
	return batch
}

// agree all-reduces the step's loss contributions (the task's, then the masked-cell and
// contrastive ones) and stop flag: the sum of the ranks' weighted losses is the batch's
// mean loss (DDP, ZeRO-1) and the sum of the flags says whether any rank was interrupted,
// so that all stop after the same step.
func (d *distributed) agree(loss, masked, contrastive float64, stop bool) (float64, float64, float64, bool, error) {
	v := []float64{loss, 0, masked, contrastive}
	if stop {
		v[1] = 1
	}
	if err := d.scalar.Device().CopyFromHost(d.scalar, v); err != nil {
		return 0, 0, 0, false, err
	}
	if err := d.call(8*len(v), false, func() error { return d.c.AllReduce(d.scalar, comm.Sum) }); err != nil {
		return 0, 0, 0, false, err
	}
	v = cpuValues(d.scalar)
	if d.dl != nil {
		for _, i := range []int{0, 2, 3} {
			v[i] /= float64(d.size) // the mean of the ranks' mean losses
		}
	}
	return v[0], v[2], v[3], v[1] > 0, nil
}

func cpuValues(b device.Buffer) []float64 {
	out := make([]float64, b.Len())
	if err := b.Device().CopyToHost(out, b); err != nil {
		panic(err)
	}
	return out
}

// afterBackward combines the ranks' gradients and steps the optimizer: what Opt.Step
// alone does in a single process.
func (d *distributed) afterBackward(t *Trainer, lr float64) error {
	switch {
	case d.zero != nil:
		return d.zero.step(t, lr)
	case d.dl != nil:
		return t.Opt.Step()
	}
	if err := d.finishGrads(); err != nil {
		return err
	}
	return t.Opt.Step()
}

// afterStep runs what follows a step: DiLoCo's outer step every LocalSteps steps and at the
// end, and the parameter check.
func (d *distributed) afterStep(t *Trainer) error {
	synced := true
	if d.dl != nil {
		synced = t.Step%d.dl.h == 0 || t.Step == t.Cfg.Steps
		if synced {
			if err := tensor.Catch(func() error { return d.dl.sync(d) }); err != nil {
				return err
			}
		}
	}
	if k := d.cfg.HashEvery; k > 0 && synced && (t.Step%k == 0 || (d.dl != nil && t.Step%k < d.dl.h)) {
		return d.checkHash(t.Step)
	}
	return nil
}

// atSyncPoint reports whether the ranks' parameters are equal after the current step,
// which checkpoints need (DiLoCo's differ between synchronisations).
func (d *distributed) atSyncPoint(t *Trainer) bool {
	return d.dl == nil || t.Step%d.dl.h == 0 || t.Step == t.Cfg.Steps
}

// ---------------------------------------------------------------------------------------
// DDP: bucketed all-reduce of the gradients

// bucket is a flat float32 buffer holding the gradients of some parameters, then one flag
// per parameter that says whether this rank had a gradient for it, so that a parameter
// without a gradient on every rank stays without one, as in a single process (the
// optimizer skips it).
type bucket struct {
	buf    device.Buffer
	flags  device.Buffer // float64 copy of the flags, read back after the all-reduce
	items  []int         // indices into distributed.params
	offs   []int
	dataN  int
	pend   comm.Work
	nbytes int
	ready  []bool // this step: the item's gradient has been copied in
	nready int
}

// makeBuckets groups the parameters, last first (the order in which a backward pass
// finishes their gradients), into buckets of about BucketBytes.
func (d *distributed) makeBuckets() error {
	d.bucketOf, d.itemOf = map[*tensor.Tensor]int{}, map[*tensor.Tensor]int{}
	var cur *bucket
	flush := func() error {
		if cur == nil {
			return nil
		}
		var err error
		if cur.buf, err = d.dev.Alloc(device.Float32, cur.dataN+len(cur.items)); err != nil {
			return err
		}
		if cur.flags, err = d.dev.Alloc(device.Float64, len(cur.items)); err != nil {
			return err
		}
		cur.nbytes = cur.buf.Len() * 4
		cur.ready = make([]bool, len(cur.items))
		for k, i := range cur.items {
			d.bucketOf[d.params[i].T] = len(d.buckets)
			d.itemOf[d.params[i].T] = k
		}
		d.buckets = append(d.buckets, cur)
		cur = nil
		return nil
	}
	for i := len(d.params) - 1; i >= 0; i-- {
		if cur == nil {
			cur = &bucket{}
		}
		cur.items = append(cur.items, i)
		cur.offs = append(cur.offs, cur.dataN)
		cur.dataN += d.params[i].T.Len()
		if cur.dataN*4 >= d.cfg.BucketBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// The gradient all-reduce of a DDP step, overlapped with the last backward pass of the
// step: beginGrads resets the buckets; gradReady, called by the backward engine as soon as a
// parameter's gradient is complete (ops.BackwardWithHook), copies it into its bucket and
// starts the all-reduce of every bucket that is full, in bucket order; finishGrads fills
// what is left (parameters without a gradient), starts the remaining buckets, waits for all
// and copies the sums back into the gradients. Buckets are always started in the same order
// on every rank, as the collectives require, whatever order the gradients arrive in: one
// that is full waits for those before it.
func (d *distributed) beginGrads() {
	d.started = 0
	for _, b := range d.buckets {
		clear(b.ready)
		b.nready = 0
		b.pend = nil
	}
}

// gradReady is the backward engine's hook: leaf's gradient is final for this step.
func (d *distributed) gradReady(leaf *tensor.Tensor) {
	bi, ok := d.bucketOf[leaf]
	if !ok {
		return // not a parameter of the optimizer
	}
	b := d.buckets[bi]
	k := d.itemOf[leaf]
	if b.ready[k] {
		return
	}
	g := leaf.Grad()
	if g == nil {
		return
	}
	d.dev.Convert(b.buf, b.offs[k], g.Buffer(), 0, leaf.Len())
	d.dev.Fill(b.buf, b.dataN+k, 1, 1)
	b.ready[k] = true
	b.nready++
	before := d.started
	if err := d.startFull(); err != nil {
		panic(err)
	}
	d.stats.Overlapped += int64(d.started - before)
}

// startFull starts, in order, every bucket whose gradients are all in.
func (d *distributed) startFull() error {
	for d.started < len(d.buckets) && d.buckets[d.started].nready == len(d.buckets[d.started].items) {
		if err := d.start(d.buckets[d.started]); err != nil {
			return err
		}
		d.started++
	}
	return nil
}

func (d *distributed) start(b *bucket) error {
	w, err := d.c.StartAllReduce(b.buf, comm.Sum)
	if err != nil {
		return err
	}
	b.pend = w
	d.stats.Collectives++
	d.stats.Bytes += int64(b.nbytes)
	d.stats.ParamBytes += int64(b.nbytes)
	return nil
}

// finishGrads completes the step's all-reduce (see beginGrads).
func (d *distributed) finishGrads() error {
	for _, b := range d.buckets {
		for k, i := range b.items {
			if b.ready[k] {
				continue
			}
			p := d.params[i].T
			if g := p.Grad(); g != nil {
				d.dev.Convert(b.buf, b.offs[k], g.Buffer(), 0, p.Len())
				d.dev.Fill(b.buf, b.dataN+k, 1, 1)
			} else {
				d.dev.Fill(b.buf, b.offs[k], p.Len(), 0)
				d.dev.Fill(b.buf, b.dataN+k, 1, 0)
			}
			b.ready[k] = true
			b.nready++
		}
	}
	if err := d.startFull(); err != nil {
		return err
	}
	waitStart := time.Now()
	defer func() {
		// Time waiting for collectives: what the backward pass did not hide.
		d.stats.Wait += time.Since(waitStart)
	}()
	for _, b := range d.buckets {
		err := b.pend.Wait()
		b.pend = nil
		if err != nil {
			return err
		}
		d.dev.Convert(b.flags, 0, b.buf, b.dataN, len(b.items))
		flags := make([]float64, len(b.items))
		if err := d.dev.CopyToHost(flags, b.flags); err != nil {
			return err
		}
		for k, i := range b.items {
			if flags[k] == 0 {
				continue
			}
			p := d.params[i].T
			g := p.Grad()
			if g == nil {
				g = tensor.Zeros(d.dev, p.DType(), p.Shape()...)
				p.SetGrad(g)
			}
			d.dev.Convert(g.Buffer(), 0, b.buf, b.offs[k], p.Len())
		}
	}
	return nil
}

// backwardHook is the hook the trainer passes to the step's last backward pass: gradReady
// for DDP, nil (no overlap) for ZeRO-1, which reduce-scatters one flat buffer after the
// pass, and DiLoCo, which communicates no gradients.
func (d *distributed) backwardHook() func(*tensor.Tensor) {
	if d.zero != nil || d.dl != nil {
		return nil
	}
	return d.gradReady
}

// ---------------------------------------------------------------------------------------
// Parameter hash

// checkHash compares an FNV-1a hash of every parameter's bits across ranks: equal
// parameters are what data-parallel training promises, and a silent divergence (a rank
// that computed differently) is caught within HashEvery steps.
func (d *distributed) checkHash(step int) error {
	h := fnv.New64a()
	var b [4]byte
	for _, p := range d.params {
		for _, v := range p.T.Float32s() {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			h.Write(b[:])
		}
	}
	sum := h.Sum64()
	mine, err := cpuDevice().Alloc(device.Float64, 4)
	if err != nil {
		return err
	}
	defer mine.Free()
	all, err := cpuDevice().Alloc(device.Float64, 4*d.size)
	if err != nil {
		return err
	}
	defer all.Free()
	// Four 16-bit words, each exact in a float64.
	words := []float64{float64(sum & 0xffff), float64(sum >> 16 & 0xffff), float64(sum >> 32 & 0xffff), float64(sum >> 48)}
	if err := cpuDevice().CopyFromHost(mine, words); err != nil {
		return err
	}
	if err := d.call(32*d.size, false, func() error { return d.c.AllGather(mine, all) }); err != nil {
		return err
	}
	v := cpuValues(all)
	hashOf := func(r int) uint64 {
		return uint64(v[4*r]) | uint64(v[4*r+1])<<16 | uint64(v[4*r+2])<<32 | uint64(v[4*r+3])<<48
	}
	for r := 1; r < d.size; r++ {
		if hashOf(r) != hashOf(0) {
			return fmt.Errorf("tabpfn: step %d: the parameters of rank %d (hash %016x) differ from rank 0's (%016x): the ranks have diverged",
				step, r, hashOf(r), hashOf(0))
		}
	}
	return nil
}

// ---------------------------------------------------------------------------------------
// ZeRO-1

// zero1 keeps this rank's shard of a flat layout of every parameter (in optimizer group
// order, padded to a multiple of Size): the parameters' values and AdamW's two moments for
// that shard only, in one segment per parameter group the shard overlaps (the groups
// differ in weight decay and learning-rate scale).
type zero1 struct {
	offs         []int // flat offset of each parameter
	total, shard int
	lo           int           // this rank's first flat element
	flatG, flatP device.Buffer // full padded gradients and parameters (communication buffers)
	pShard       device.Buffer // this rank's shard, gathered into flatP
	gShard       device.Buffer // this rank's reduced gradients
	norm         device.Buffer // float32 and float64 scalars for the gradient norm
	norm64       device.Buffer
	segs         []zseg
	cfg          optim.AdamWConfig
	groups       []optim.Group
	steps        int
	skipped      int
	gradNorm     float64
}

type zseg struct {
	group      int
	lo, n      int // offset within the shard
	p, g, m, v device.Buffer
}

// newZero1 lays out the parameters, takes this rank's shard of the optimizer's state (a
// resumed run's moments), and frees the full state of opt, which is not used again.
func newZero1(d *distributed, opt *optim.AdamW) (*zero1, error) {
	if opt.Config.AMSGrad {
		return nil, errors.New("tabpfn: ZeRO-1 runs AdamW without AMSGrad")
	}
	z := &zero1{cfg: opt.Config, groups: opt.Groups(), steps: opt.StepCount(), skipped: opt.Skipped()}
	for _, p := range d.params {
		z.offs = append(z.offs, z.total)
		z.total += p.T.Len()
	}
	z.shard = (z.total + d.size - 1) / d.size
	z.lo = d.rank * z.shard
	padded := z.shard * d.size
	st, err := opt.State()
	if err != nil {
		return nil, err
	}
	alloc := func(n int) device.Buffer {
		b, err := d.dev.Alloc(device.Float32, n)
		if err != nil {
			panic(err)
		}
		return b
	}
	z.flatG, z.flatP = alloc(padded), alloc(padded)
	z.pShard, z.gShard = alloc(z.shard), alloc(z.shard)
	z.norm = alloc(1)
	if z.norm64, err = d.dev.Alloc(device.Float64, 1); err != nil {
		return nil, err
	}
	// Host copies of the flat moments, of which this rank keeps its shard.
	m := make([]float64, padded)
	v := make([]float64, padded)
	for i, p := range d.params {
		copy(m[z.offs[i]:], st.Tensors[p.Name+"/exp_avg"])
		copy(v[z.offs[i]:], st.Tensors[p.Name+"/exp_avg_sq"])
		d.dev.Convert(z.flatP, z.offs[i], p.T.Buffer(), 0, p.T.Len())
	}
	// Group g covers the flat range of its parameters; each overlap with the shard is a
	// segment.
	gLo := 0
	for gi, g := range z.groups {
		gHi := gLo
		for _, p := range g.Params {
			gHi += p.T.Len()
		}
		lo, hi := max(gLo, z.lo), min(gHi, z.lo+z.shard)
		if hi > lo {
			s := zseg{group: gi, lo: lo - z.lo, n: hi - lo}
			s.p, s.g, s.m, s.v = alloc(s.n), alloc(s.n), alloc(s.n), alloc(s.n)
			d.dev.Convert(s.p, 0, z.flatP, lo, s.n)
			if err := d.dev.CopyFromHost(s.m, toF32(m[lo:hi])); err != nil {
				return nil, err
			}
			if err := d.dev.CopyFromHost(s.v, toF32(v[lo:hi])); err != nil {
				return nil, err
			}
			z.segs = append(z.segs, s)
		}
		gLo = gHi
	}
	opt.Release()
	return z, nil
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// step is AdamW over the shards: reduce-scatter the gradients, clip by the global norm
// (the shards' sums of squares all-reduced), one fused AdamW step per segment, then
// all-gather the parameters.
func (z *zero1) step(t *Trainer, lr float64) error {
	d := t.dist
	dev := d.dev
	for i, p := range d.params {
		if g := p.T.Grad(); g != nil {
			dev.Convert(z.flatG, z.offs[i], g.Buffer(), 0, p.T.Len())
		} else {
			dev.Fill(z.flatG, z.offs[i], p.T.Len(), 0)
		}
	}
	full := z.flatG.Len() * 4
	if err := d.call(full, true, func() error { return d.c.ReduceScatter(z.flatG, z.gShard, comm.Sum) }); err != nil {
		return err
	}
	dev.Reduce(device.ReduceSumSquares, z.gShard, 1, z.shard, 1, z.norm)
	dev.Convert(z.norm64, 0, z.norm, 0, 1)
	if err := d.call(8, false, func() error { return d.c.AllReduce(z.norm64, comm.Sum) }); err != nil {
		return err
	}
	sq := make([]float64, 1)
	if err := dev.CopyToHost(sq, z.norm64); err != nil {
		return err
	}
	if math.IsNaN(sq[0]) || math.IsInf(sq[0], 0) {
		return fmt.Errorf("optim: adamw step %d refused: the gradients hold NaN or Inf", z.steps+1)
	}
	z.gradNorm = math.Sqrt(sq[0])
	scale := 1.0
	if c := z.cfg.MaxGradNorm; c > 0 && z.gradNorm > c {
		scale = c / z.gradNorm
	}
	z.steps++
	for _, s := range z.segs {
		dev.Convert(s.g, 0, z.gShard, s.lo, s.n)
		g := z.groups[s.group]
		h := device.OptimHyper{LR: lr, WeightDecay: z.cfg.WeightDecay, GradScale: scale, Step: z.steps,
			Beta1: z.cfg.Beta1, Beta2: z.cfg.Beta2, Eps: z.cfg.Eps, BiasCorrection: true}
		if g.LRScale != 0 {
			h.LR *= g.LRScale
		}
		if g.NoWeightDecay {
			h.WeightDecay = 0
		}
		ts := []device.OptimTensor{{Param: s.p, Grad: s.g, State: []device.Buffer{s.m, s.v}, N: s.n}}
		err := dev.OptimizerStep(device.OptimAdamW, ts, h)
		if errors.Is(err, device.ErrUnsupported) {
			err = optim.ComposedStep(dev, device.OptimAdamW, ts, h)
		}
		if err != nil {
			return err
		}
		dev.Convert(z.pShard, s.lo, s.p, 0, s.n)
	}
	if err := d.call(full, true, func() error { return d.c.AllGather(z.pShard, z.flatP) }); err != nil {
		return err
	}
	for i, p := range d.params {
		dev.Convert(p.T.Buffer(), 0, z.flatP, z.offs[i], p.T.Len())
	}
	return nil
}

// state gathers the shards' moments into AdamW's state (a collective: every rank calls
// it), the form checkpoints hold whatever the mode.
func (z *zero1) state(t *Trainer) (*optim.State, error) {
	d := t.dist
	st := &optim.State{Optimizer: "adamw", Step: z.steps, Skipped: z.skipped, LR: t.Opt.LR(),
		Tensors: map[string][]float64{}, Scalars: map[string]float64{}}
	for _, which := range []string{"exp_avg", "exp_avg_sq"} {
		for _, s := range z.segs {
			src := s.m
			if which == "exp_avg_sq" {
				src = s.v
			}
			d.dev.Convert(z.pShard, s.lo, src, 0, s.n)
		}
		if err := d.call(0, false, func() error { return d.c.AllGather(z.pShard, z.flatG) }); err != nil {
			return nil, err
		}
		flat := make([]float32, z.flatG.Len())
		if err := d.dev.CopyToHost(flat, z.flatG); err != nil {
			return nil, err
		}
		for i, p := range d.params {
			v := make([]float64, p.T.Len())
			for k := range v {
				v[k] = float64(flat[z.offs[i]+k])
			}
			st.Tensors[p.Name+"/"+which] = v
		}
	}
	// Restore the parameters' shard, which the gather used as scratch.
	for _, s := range z.segs {
		d.dev.Convert(z.pShard, s.lo, s.p, 0, s.n)
	}
	return st, nil
}

// ---------------------------------------------------------------------------------------
// DiLoCo

// diloco holds the outer optimization: the parameters at the last synchronisation (the
// global model) and the outer Nesterov momentum, over the flat layout of the parameters.
type diloco struct {
	h         int
	lr, mom   float64
	offs      []int
	total     int
	global    device.Buffer // parameters after the last outer step
	flat      device.Buffer // this rank's parameters now
	delta     device.Buffer // outer gradient: global − flat, then its mean over ranks
	momentum  device.Buffer // nil without momentum
	outerStep int
}

// Checkpoint entries and metadata of DiLoCo's outer state.
const (
	dilocoMomentum  = "diloco.outer_momentum"
	metaDilocoOuter = "tabpfn.diloco_outer_step"
)

func newDiloco(d *distributed, t *Trainer) (*diloco, error) {
	dl := &diloco{h: d.cfg.LocalSteps, lr: d.cfg.OuterLR, mom: d.cfg.OuterMomentum}
	for _, p := range d.params {
		dl.offs = append(dl.offs, dl.total)
		dl.total += p.T.Len()
	}
	var err error
	for _, b := range []*device.Buffer{&dl.global, &dl.flat, &dl.delta} {
		if *b, err = d.dev.Alloc(device.Float32, dl.total); err != nil {
			return nil, err
		}
	}
	for i, p := range d.params {
		d.dev.Convert(dl.global, dl.offs[i], p.T.Buffer(), 0, p.T.Len())
	}
	if dl.mom > 0 {
		if dl.momentum, err = d.dev.Alloc(device.Float32, dl.total); err != nil {
			return nil, err
		}
		// A resumed run continues the outer momentum its checkpoint holds (rank 0's, which
		// every rank reads and rank 0 broadcasts).
		if t.Step > 0 && t.Path != "" {
			if f, err := checkpoint.Load(t.Path); err == nil {
				if e, ok := f.Entries[dilocoMomentum]; ok && len(e.F64) == dl.total {
					if err := d.dev.CopyFromHost(dl.momentum, toF32(e.F64)); err != nil {
						return nil, err
					}
					dl.outerStep, _ = strconv.Atoi(f.Metadata[metaDilocoOuter])
				}
			}
		}
		if err := d.call(dl.total*4, false, func() error { return d.c.Broadcast(dl.momentum, 0) }); err != nil {
			return nil, err
		}
	}
	return dl, nil
}

// sync is the outer step: the mean over ranks of (global − local) is the outer gradient,
// applied to the global parameters by the fused SGD step with Nesterov momentum; every
// rank then continues from the new global parameters.
func (dl *diloco) sync(d *distributed) error {
	dev := d.dev
	for i, p := range d.params {
		dev.Convert(dl.flat, dl.offs[i], p.T.Buffer(), 0, p.T.Len())
	}
	l := device.Contiguous([]int{dl.total})
	dev.Binary(device.BinarySub, dl.global, l, dl.flat, l, dl.delta, l)
	if err := d.call(dl.total*4, true, func() error { return d.c.AllReduce(dl.delta, comm.Mean) }); err != nil {
		return err
	}
	dl.outerStep++
	h := device.OptimHyper{LR: dl.lr, Step: dl.outerStep}
	ot := device.OptimTensor{Param: dl.global, Grad: dl.delta, N: dl.total}
	if dl.mom > 0 {
		h.Momentum, h.Nesterov = dl.mom, true
		ot.State = []device.Buffer{dl.momentum}
	}
	err := dev.OptimizerStep(device.OptimSGD, []device.OptimTensor{ot}, h)
	if errors.Is(err, device.ErrUnsupported) {
		err = optim.ComposedStep(dev, device.OptimSGD, []device.OptimTensor{ot}, h)
	}
	if err != nil {
		return err
	}
	for i, p := range d.params {
		dev.Convert(p.T.Buffer(), 0, dl.global, dl.offs[i], p.T.Len())
	}
	return nil
}

// extra is DiLoCo's outer state for a checkpoint.
func (dl *diloco) extra(d *distributed) ([]checkpoint.Entry, map[string]string, error) {
	meta := map[string]string{metaDilocoOuter: strconv.Itoa(dl.outerStep)}
	if dl.momentum == nil {
		return nil, meta, nil
	}
	v := make([]float32, dl.total)
	if err := d.dev.CopyToHost(v, dl.momentum); err != nil {
		return nil, nil, err
	}
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return []checkpoint.Entry{{Name: dilocoMomentum, Shape: []int{len(f)}, F64: f}}, meta, nil
}

// checkpoint writes the run's checkpoint from rank 0. Every rank calls it at the same step:
// ZeRO-1 gathers the optimizer state from all ranks first.
func (d *distributed) checkpoint(t *Trainer) error {
	if t.Path == "" {
		return nil
	}
	var st *optim.State
	var err error
	if d.zero != nil {
		if st, err = d.zero.state(t); err != nil {
			return err
		}
	}
	if d.rank != 0 {
		return nil
	}
	if st == nil {
		if st, err = t.Opt.State(); err != nil {
			return err
		}
	}
	var extra []checkpoint.Entry
	var meta map[string]string
	if d.dl != nil {
		if extra, meta, err = d.dl.extra(d); err != nil {
			return err
		}
	}
	return t.saveState(t.Path, st, extra, meta)
}

// gradNorm is the norm of the last step's combined gradient.
func (d *distributed) gradNorm(t *Trainer) float64 {
	if d.zero != nil {
		return d.zero.gradNorm
	}
	return t.Opt.GradNorm()
}
