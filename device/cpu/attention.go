package cpu

import (
	"math"
	"runtime"

	"github.com/kiln-ml/kiln/device"
)

// Tile sizes of the backward pass: a query block of attnBq rows meets a key tile of attnBk
// keys, so a goroutine holds at most two tiles of attnBq×attnBk scores whatever the
// sequence lengths. The forward pass sizes its tiles to the call (attnMaxTile).
const (
	attnBq = 64
	attnBk = 64
)

// attnMaxTile bounds the forward pass's query blocks and key tiles. The forward pass splits
// the queries and the context keys each into the fewest tiles of at most attnMaxTile and
// makes the tiles equal (tileSize): a goroutine then holds at most attnMaxTile² scores, and
// the 65 tokens of a TabPFN row of 64 features make one tile, not one of 64 and one of a
// single key whose product fills a whole micro-kernel tile for one column. At TabPFN's
// shapes this runs 1.2–1.4× faster than fixed tiles of 64
// (bench/results/cpu-attention-tiles-2026-12-05.md).
const attnMaxTile = 256

// tileSize returns the common size of the fewest equal tiles of at most max that cover n.
func tileSize(n, max int) int {
	if n < 1 {
		return 1
	}
	tiles := (n + max - 1) / max
	return (n + tiles - 1) / tiles
}

// checkAttention validates p and the operands common to both directions and returns the dtype.
func checkAttention(op string, p device.AttentionParams, q, k, v, o, lse device.Buffer) (qb, kb, vb, ob, lb *buffer) {
	ob = getFloat(o, op, "O", 0)
	dt := ob.dtype
	qb = getFloat(q, op, "Q", dt)
	kb = getFloat(k, op, "K", dt)
	vb = getFloat(v, op, "V", dt)
	lb = getFloat(lse, op, "lse", dt)
	if p.Batch < 0 || p.Lq < 0 || p.Lk < 1 || p.D < 1 || p.Dv < 1 {
		device.Panicf(op, "bad sizes Batch=%d Lq=%d Lk=%d D=%d Dv=%d", p.Batch, p.Lq, p.Lk, p.D, p.Dv)
	}
	if p.NContext < 1 || p.NContext > p.Lk {
		device.Panicf(op, "NContext = %d, want 1 ≤ NContext ≤ Lk = %d", p.NContext, p.Lk)
	}
	needLen(qb, p.Batch*p.Lq*p.D, op, "Q")
	needLen(kb, p.Batch*p.Lk*p.D, op, "K")
	needLen(vb, p.Batch*p.Lk*p.Dv, op, "V")
	needLen(ob, p.Batch*p.Lq*p.Dv, op, "O")
	needLen(lb, p.Batch*p.Lq, op, "lse")
	return
}

// Attention computes O = softmax(scale·Q·Kᵀ)·V per head with the context mask, the way
// FlashAttention does (Dao, Fu, Ermon, Rudra and Ré 2022, "FlashAttention: fast and
// memory-efficient exact attention with IO-awareness", algorithm 1): for a block of queries
// it walks the key tiles, keeping a running maximum m and normaliser l per query and
// rescaling the output accumulator by e^(m_old−m_new) whenever the maximum grows (the online
// softmax of Milakov and Gimelshein 2018). Memory is linear in Lq and Lk. Both products of a
// tile go through sgemm/dgemm; float32 tiles take their exponentials from exp32.
func (d *Device) Attention(p device.AttentionParams, q, k, v, o, lse device.Buffer) {
	if d.widened("Attention", []device.Buffer{q, k, v, o, lse}, []device.Buffer{o, lse}, func(f func(device.Buffer) device.Buffer) { d.Attention(p, f(q), f(k), f(v), f(o), f(lse)) }) {
		return
	}
	qb, kb, vb, ob, lb := checkAttention("Attention", p, q, k, v, o, lse)
	if ob.dtype == device.Float32 {
		attention(p, floats[float32](qb), floats[float32](kb), floats[float32](vb), floats[float32](ob), floats[float32](lb))
	} else {
		attention(p, floats[float64](qb), floats[float64](kb), floats[float64](vb), floats[float64](ob), floats[float64](lb))
	}
}

func attention[T float](p device.AttentionParams, q, k, v, o, lse []T) {
	D, Dv, nc := p.D, p.Dv, p.NContext
	bq, bk := tileSize(p.Lq, attnMaxTile), tileSize(nc, attnMaxTile)
	qBlocks := (p.Lq + bq - 1) / bq
	parallelFor(p.Batch*qBlocks, bq*nc*(D+Dv), func(lo, hi int) {
		s := make([]T, bq*bk)
		acc := make([]T, bq*Dv)
		m := make([]float64, bq)
		l := make([]float64, bq)
		for t := lo; t < hi; t++ {
			b, i0 := t/qBlocks, (t%qBlocks)*bq
			nq := min(bq, p.Lq-i0)
			qr := (b*p.Lq + i0)
			Q := q[qr*D : (qr+nq)*D]
			clear(acc[:nq*Dv])
			for i := 0; i < nq; i++ {
				m[i], l[i] = math.Inf(-1), 0
			}
			for j0 := 0; j0 < nc; j0 += bk {
				nk := min(bk, nc-j0)
				kr := b*p.Lk + j0
				gemmT(false, true, nq, nk, D, p.Scale, Q, D, k[kr*D:(kr+nk)*D], D, 0, s, nk)
				for i := 0; i < nq; i++ {
					row := s[i*nk : (i+1)*nk]
					// The running maximum is −Inf or an earlier score, so it converts to T
					// exactly and the scan compares in the storage type.
					mx := float64(maxAbove(row, T(m[i])))
					corr := 1.0 // the maximum seldom moves after the first tiles: skip e^0
					if mx != m[i] {
						corr = math.Exp(m[i] - mx) // 0 on the first tile (m = −Inf)
					}
					l[i] = l[i]*corr + expRow(row, mx)
					m[i] = mx
					if corr != 1 && j0 > 0 { // the first tile's accumulator is still zero
						ar := acc[i*Dv : (i+1)*Dv]
						for c := range ar {
							ar[c] *= T(corr)
						}
					}
				}
				gemmT(false, false, nq, Dv, nk, 1, s[:nq*nk], nk, v[kr*Dv:(kr+nk)*Dv], Dv, 1, acc, Dv)
			}
			for i := 0; i < nq; i++ {
				inv := 1 / l[i]
				or := o[(qr+i)*Dv : (qr+i+1)*Dv]
				for c, a := range acc[i*Dv : (i+1)*Dv] {
					or[c] = T(float64(a) * inv)
				}
				lse[qr+i] = T(m[i] + math.Log(l[i]))
			}
		}
	})
}

// AttentionBackward computes dQ, dK and dV following FlashAttention's backward pass (Dao et
// al. 2022, algorithm 4; the loop order of FlashAttention-2, Dao 2023, section 3.2): the
// probabilities of each tile are recomputed from the saved lse as P = exp(scale·Q·Kᵀ − lse),
// and with Δ_i = Σ_c dO_ic·O_ic,
//
//	dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − Δ),  dQ = scale·dS·K,  dK = scale·dSᵀ·Q.
//
// To avoid write conflicts without atomics, either each goroutine owns whole heads (one pass,
// when the heads share out evenly over the goroutines) or, for a few heads, one pass over key
// tiles owns dK and dV and a second pass over query blocks owns dQ; each recomputes the tiles
// it needs, so memory stays linear at the price of computing the scores twice. Keys at or
// beyond NContext get zero gradients.
func (d *Device) AttentionBackward(p device.AttentionParams, q, k, v, o, lse, dO, dq, dk, dv device.Buffer) {
	if d.widened("AttentionBackward", []device.Buffer{q, k, v, o, lse, dO, dq, dk, dv}, []device.Buffer{dq, dk, dv}, func(f func(device.Buffer) device.Buffer) {
		d.AttentionBackward(p, f(q), f(k), f(v), f(o), f(lse), f(dO), f(dq), f(dk), f(dv))
	}) {
		return
	}
	const op = "AttentionBackward"
	qb, kb, vb, ob, lb := checkAttention(op, p, q, k, v, o, lse)
	dt := ob.dtype
	dob := getFloat(dO, op, "dO", dt)
	dqb := getFloat(dq, op, "dQ", dt)
	dkb := getFloat(dk, op, "dK", dt)
	dvb := getFloat(dv, op, "dV", dt)
	needLen(dob, p.Batch*p.Lq*p.Dv, op, "dO")
	needLen(dqb, p.Batch*p.Lq*p.D, op, "dQ")
	needLen(dkb, p.Batch*p.Lk*p.D, op, "dK")
	needLen(dvb, p.Batch*p.Lk*p.Dv, op, "dV")
	if dt == device.Float32 {
		attentionBackward(p, floats[float32](qb), floats[float32](kb), floats[float32](vb), floats[float32](ob), floats[float32](lb),
			floats[float32](dob), floats[float32](dqb), floats[float32](dkb), floats[float32](dvb))
	} else {
		attentionBackward(p, floats[float64](qb), floats[float64](kb), floats[float64](vb), floats[float64](ob), floats[float64](lb),
			floats[float64](dob), floats[float64](dqb), floats[float64](dkb), floats[float64](dvb))
	}
}

func attentionBackward[T float](p device.AttentionParams, q, k, v, o, lse, dO, dq, dk, dv []T) {
	D, Dv, nc, Lq, Lk := p.D, p.Dv, p.NContext, p.Lq, p.Lk
	delta := make([]float64, p.Batch*Lq)
	parallelFor(len(delta), Dv, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			s := 0.0
			for c, g := range dO[r*Dv : (r+1)*Dv] {
				s += float64(g) * float64(o[r*Dv+c])
			}
			delta[r] = s
		}
	})

	// tile computes P (into s) and dS (into ds) for queries [qr, qr+nq) against keys
	// [kr, kr+nk) of the same head.
	tile := func(s, ds []T, qr, nq, kr, nk int) {
		s, ds = s[:nq*nk], ds[:nq*nk]
		gemmT(false, true, nq, nk, D, p.Scale, q[qr*D:(qr+nq)*D], D, k[kr*D:(kr+nk)*D], D, 0, s, nk)
		for i := 0; i < nq; i++ {
			expRow(s[i*nk:(i+1)*nk], float64(lse[qr+i]))
		}
		gemmT(false, true, nq, nk, Dv, 1, dO[qr*Dv:(qr+nq)*Dv], Dv, v[kr*Dv:(kr+nk)*Dv], Dv, 0, ds, nk)
		for i := 0; i < nq; i++ {
			dl := delta[qr+i]
			pr, dr := s[i*nk:(i+1)*nk], ds[i*nk:(i+1)*nk]
			for j, pj := range pr {
				dr[j] = T(float64(pj) * (float64(dr[j]) - dl))
			}
		}
	}

	// With enough heads to share out evenly, each goroutine owns whole heads and makes one
	// pass: for each key tile it walks the query blocks and accumulates dV, dK and dQ at
	// once (FlashAttention-2's order, Dao 2023, algorithm 2, with dQ owned rather than
	// atomically added), so every tile of P and dS is computed once instead of twice. dQ
	// of each query block receives the key tiles in ascending order, as in the two-pass
	// scheme below, so both give bit-identical results.
	if w := runtime.GOMAXPROCS(0); p.Batch%w == 0 || p.Batch >= 8*w {
		parallelFor(p.Batch, Lq*nc*(4*D+3*Dv), func(lo, hi int) {
			s := make([]T, attnBq*attnBk)
			ds := make([]T, attnBq*attnBk)
			for b := lo; b < hi; b++ {
				clear(dq[b*Lq*D : (b+1)*Lq*D])
				for j0 := 0; j0 < nc; j0 += attnBk {
					nk := min(attnBk, nc-j0)
					kr := b*Lk + j0
					dK, dV := dk[kr*D:(kr+nk)*D], dv[kr*Dv:(kr+nk)*Dv]
					clear(dK)
					clear(dV)
					for i0 := 0; i0 < Lq; i0 += attnBq {
						nq := min(attnBq, Lq-i0)
						qr := b*Lq + i0
						tile(s, ds, qr, nq, kr, nk)
						gemmT(true, false, nk, Dv, nq, 1, s[:nq*nk], nk, dO[qr*Dv:(qr+nq)*Dv], Dv, 1, dV, Dv)
						gemmT(true, false, nk, D, nq, p.Scale, ds[:nq*nk], nk, q[qr*D:(qr+nq)*D], D, 1, dK, D)
						gemmT(false, false, nq, D, nk, p.Scale, ds[:nq*nk], nk, k[kr*D:(kr+nk)*D], D, 1, dq[qr*D:(qr+nq)*D], D)
					}
				}
				clear(dk[(b*Lk+nc)*D : (b+1)*Lk*D])
				clear(dv[(b*Lk+nc)*Dv : (b+1)*Lk*Dv])
			}
		})
		return
	}

	kBlocks := (nc + attnBk - 1) / attnBk
	parallelFor(p.Batch*kBlocks, attnBk*Lq*(2*D+2*Dv), func(lo, hi int) {
		s := make([]T, attnBq*attnBk)
		ds := make([]T, attnBq*attnBk)
		for t := lo; t < hi; t++ {
			b, j0 := t/kBlocks, (t%kBlocks)*attnBk
			nk := min(attnBk, nc-j0)
			kr := b*Lk + j0
			dK, dV := dk[kr*D:(kr+nk)*D], dv[kr*Dv:(kr+nk)*Dv]
			clear(dK)
			clear(dV)
			for i0 := 0; i0 < Lq; i0 += attnBq {
				nq := min(attnBq, Lq-i0)
				qr := b*Lq + i0
				tile(s, ds, qr, nq, kr, nk)
				gemmT(true, false, nk, Dv, nq, 1, s[:nq*nk], nk, dO[qr*Dv:(qr+nq)*Dv], Dv, 1, dV, Dv)
				gemmT(true, false, nk, D, nq, p.Scale, ds[:nq*nk], nk, q[qr*D:(qr+nq)*D], D, 1, dK, D)
			}
		}
	})
	for b := 0; b < p.Batch; b++ {
		clear(dk[(b*Lk+nc)*D : (b+1)*Lk*D])
		clear(dv[(b*Lk+nc)*Dv : (b+1)*Lk*Dv])
	}

	qBlocks := (Lq + attnBq - 1) / attnBq
	parallelFor(p.Batch*qBlocks, attnBq*nc*(2*D+Dv), func(lo, hi int) {
		s := make([]T, attnBq*attnBk)
		ds := make([]T, attnBq*attnBk)
		for t := lo; t < hi; t++ {
			b, i0 := t/qBlocks, (t%qBlocks)*attnBq
			nq := min(attnBq, Lq-i0)
			qr := b*Lq + i0
			dQ := dq[qr*D : (qr+nq)*D]
			clear(dQ)
			for j0 := 0; j0 < nc; j0 += attnBk {
				nk := min(attnBk, nc-j0)
				kr := b*Lk + j0
				tile(s, ds, qr, nq, kr, nk)
				gemmT(false, false, nq, D, nk, p.Scale, ds[:nq*nk], nk, k[kr*D:(kr+nk)*D], D, 1, dQ, D)
			}
		}
	})
}
