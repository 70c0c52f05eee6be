package cpu

import (
	"github.com/kiln-ml/kiln/device"
	"github.com/kiln-ml/kiln/device/half"
)

// The 16-bit float dtypes (device.BFloat16, device.Float16) are stored as their bits in
// buffer.h16. Fill and Convert handle them directly; every other primitive runs in float32
// on widened copies (device.InFloat32).

// halfBits is v rounded to dt's 16 bits.
func halfBits(dt device.DType, v float64) uint16 {
	if dt == device.BFloat16 {
		return uint16(half.BFloat16FromFloat64(v))
	}
	return uint16(half.Float16FromFloat64(v))
}

// halfValue is the exact value of 16-bit element bits of dtype dt.
func halfValue(dt device.DType, bits uint16) float32 {
	if dt == device.BFloat16 {
		return half.BFloat16(bits).Float32()
	}
	return half.Float16(bits).Float32()
}

// convertHalf is Convert where either side is a 16-bit float: values go through float64
// (exact for every source dtype), and rounding to 16 bits is package half's.
func convertHalf(db *buffer, do int, sb *buffer, so int, n int) {
	parallelFor(n, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var v float64
			switch sb.dtype {
			case device.Float32:
				v = float64(sb.f32[so+i])
			case device.Float64:
				v = sb.f64[so+i]
			case device.Int32:
				v = float64(sb.i32[so+i])
			default:
				v = float64(halfValue(sb.dtype, sb.h16[so+i]))
			}
			switch db.dtype {
			case device.Float32:
				db.f32[do+i] = float32(v)
			case device.Float64:
				db.f64[do+i] = v
			case device.Int32:
				db.i32[do+i] = int32(float32(v))
			default:
				if sb.dtype == db.dtype {
					db.h16[do+i] = sb.h16[so+i]
				} else {
					db.h16[do+i] = halfBits(db.dtype, v)
				}
			}
		}
	})
}

// widened runs op on float32 copies of its 16-bit operands (device.InFloat32) and reports
// whether it did: the primitives call it first and return when it ran.
func (d *Device) widened(op string, operands, outputs []device.Buffer, run func(f32 func(device.Buffer) device.Buffer)) bool {
	if !device.AnyHalf(operands...) {
		return false
	}
	device.InFloat32(d, op, operands, outputs, run)
	return true
}
