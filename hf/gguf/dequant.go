package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Block layouts and formulas follow ggml-quants.c (dequantize_row_*) and
// gguf-py's quants.py. Every product that ggml rounds separately is rounded
// here too: an explicit float32(...) conversion stops the Go compiler from
// fusing a*b+c into one FMA, so the results are bit-identical to ggml's.

// blockDecoder decodes one block (typeInfo's blockBytes bytes) into dst
// (blockSize elements).
type blockDecoder func(dst []float32, b []byte)

var decoders = map[TensorType]blockDecoder{
	F32: func(dst []float32, b []byte) { dst[0] = math.Float32frombits(binary.LittleEndian.Uint32(b)) },
	F16: func(dst []float32, b []byte) { dst[0] = half(b) },
	BF16: func(dst []float32, b []byte) {
		dst[0] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16)
	},
	Q4_0: decodeQ4_0,
	Q4_1: decodeQ4_1,
	Q5_0: decodeQ5_0,
	Q5_1: decodeQ5_1,
	Q8_0: decodeQ8_0,
	Q2_K: decodeQ2_K,
	Q3_K: decodeQ3_K,
	Q4_K: decodeQ4_K,
	Q5_K: decodeQ5_K,
	Q6_K: decodeQ6_K,
}

// CanDequantize reports whether [Dequantize] supports t.
func CanDequantize(t TensorType) bool { return decoders[t] != nil }

// Dequantize decodes n elements of type t from src. n must be a multiple of
// t's block size and len(src) must be exactly n/BlockSize*BlockBytes. The
// result is a new slice in ggml element order (row-major with Dims[0]
// fastest, i.e. row-major in the reversed, Hugging Face shape).
func Dequantize(t TensorType, src []byte, n int64) ([]float32, error) {
	if n < 0 || n > math.MaxInt {
		return nil, fmt.Errorf("gguf: dequantising %s: bad element count %d", t, n)
	}
	dst := make([]float32, n)
	if err := DequantizeInto(dst, t, src); err != nil {
		return nil, err
	}
	return dst, nil
}

// DequantizeInto decodes len(dst) elements of type t from src into dst, with
// the same requirements as [Dequantize].
func DequantizeInto(dst []float32, t TensorType, src []byte) error {
	dec := decoders[t]
	if dec == nil {
		return &UnsupportedTypeError{Type: t}
	}
	bs, bb := t.BlockSize(), t.BlockBytes()
	n := int64(len(dst))
	if n%bs != 0 {
		return fmt.Errorf("gguf: dequantising %s: %d elements is not a multiple of the block size %d", t, n, bs)
	}
	if int64(len(src)) != n/bs*bb {
		return fmt.Errorf("gguf: dequantising %s: %d elements need %d bytes, got %d", t, n, n/bs*bb, len(src))
	}
	switch t {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
		return nil
	case F16:
		for i := range dst {
			dst[i] = half(src[2*i:])
		}
		return nil
	}
	for i, j := int64(0), int64(0); i < n; i, j = i+bs, j+bb {
		dec(dst[i:i+bs], src[j:j+bb])
	}
	return nil
}

// Dequantize decodes the named tensor to float32, in ggml element order (see
// the package function [Dequantize]); its row-major shape is
// [TensorInfo.Shape]. Errors name the tensor.
func (f *File) Dequantize(name string) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf: no tensor %q", name)
	}
	if !CanDequantize(t.Type) {
		return nil, &UnsupportedTypeError{Tensor: name, Type: t.Type}
	}
	src, err := f.TensorData(name)
	if err != nil {
		return nil, err
	}
	out, err := Dequantize(t.Type, src, t.Numel())
	if err != nil {
		return nil, fmt.Errorf("%w (tensor %q)", err, name)
	}
	return out, nil
}

// half converts the IEEE 754 binary16 value in b[0:2] (little-endian) to
// float32 exactly, including subnormals, infinities and NaN payloads.
func half(b []byte) float32 {
	h := binary.LittleEndian.Uint16(b)
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		v := float32(mant) * (1.0 / (1 << 24)) // subnormal: mant * 2^-24, exact
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Q4_0: d f16 | qs[16]; element j (<16) is the low nibble of qs[j], element
// j+16 the high nibble; y = (q - 8) * d.
func decodeQ4_0(y []float32, b []byte) {
	d := half(b)
	qs := b[2:18]
	for j, q := range qs {
		y[j] = float32(int(q&0xf)-8) * d
		y[j+16] = float32(int(q>>4)-8) * d
	}
}

// Q4_1: d f16 | m f16 | qs[16]; y = q*d + m.
func decodeQ4_1(y []float32, b []byte) {
	d, m := half(b), half(b[2:])
	qs := b[4:20]
	for j, q := range qs {
		y[j] = float32(d*float32(q&0xf)) + m
		y[j+16] = float32(d*float32(q>>4)) + m
	}
}

// Q5_0: d f16 | qh u32 | qs[16]; bit i of qh is the fifth bit of element i;
// y = (q - 16) * d.
func decodeQ5_0(y []float32, b []byte) {
	d := half(b)
	qh := binary.LittleEndian.Uint32(b[2:])
	qs := b[6:22]
	for j, q := range qs {
		h0 := byte(qh>>j) & 1 << 4
		h1 := byte(qh>>(j+16)) & 1 << 4
		y[j] = float32(int(q&0xf|h0)-16) * d
		y[j+16] = float32(int(q>>4|h1)-16) * d
	}
}

// Q5_1: d f16 | m f16 | qh u32 | qs[16]; y = q*d + m.
func decodeQ5_1(y []float32, b []byte) {
	d, m := half(b), half(b[2:])
	qh := binary.LittleEndian.Uint32(b[4:])
	qs := b[8:24]
	for j, q := range qs {
		h0 := byte(qh>>j) & 1 << 4
		h1 := byte(qh>>(j+16)) & 1 << 4
		y[j] = float32(d*float32(q&0xf|h0)) + m
		y[j+16] = float32(d*float32(q>>4|h1)) + m
	}
}

// Q8_0: d f16 | qs int8[32]; y = q * d.
func decodeQ8_0(y []float32, b []byte) {
	d := half(b)
	for j, q := range b[2:34] {
		y[j] = float32(int8(q)) * d
	}
}

// Q2_K: scales[16] | qs[64] | d f16 | dmin f16. Element e (0..255) is the
// 2-bit field (qs[32*(e/128) + e%32] >> 2*((e/32)%4)) & 3; its 16-element
// group g = e/16 has scale d*(scales[g]&15) and offset dmin*(scales[g]>>4);
// y = q*scale - offset.
func decodeQ2_K(y []float32, b []byte) {
	scales, qs := b[0:16], b[16:80]
	d, dmin := half(b[80:]), half(b[82:])
	for g := 0; g < 16; g++ {
		dl := d * float32(scales[g]&0xf)
		ml := dmin * float32(scales[g]>>4)
		for e := 16 * g; e < 16*g+16; e++ {
			q := qs[32*(e>>7)+e&31] >> (2 * ((e >> 5) & 3)) & 3
			y[e] = float32(dl*float32(q)) - ml
		}
	}
}

// Q3_K: hmask[32] | qs[64] | scales[12] | d f16. The low two bits of element
// e are as in Q2_K; the third is bit e/32 of hmask[e%32], and a clear bit
// subtracts 4. Group g's 6-bit scale is (low nibble: scales[g] for g < 8,
// scales[g-8]>>4 otherwise) | (bits 2*(g/4) of scales[8+g%4]) << 4, minus 32.
func decodeQ3_K(y []float32, b []byte) {
	hmask, qs, scales := b[0:32], b[32:96], b[96:108]
	d := half(b[108:])
	for g := 0; g < 16; g++ {
		lo := scales[g%8]
		if g >= 8 {
			lo >>= 4
		}
		hi := scales[8+g%4] >> (2 * (g / 4)) & 3
		dl := d * float32(int(lo&0xf|hi<<4)-32)
		for e := 16 * g; e < 16*g+16; e++ {
			q := int(qs[32*(e>>7)+e&31] >> (2 * ((e >> 5) & 3)) & 3)
			if hmask[e&31]>>(e>>5)&1 == 0 {
				q -= 4
			}
			y[e] = dl * float32(q)
		}
	}
}

// scaleMinK4 unpacks the eight 6-bit scales and mins of a Q4_K/Q5_K block
// from its 12 scale bytes (ggml's get_scale_min_k4).
func scaleMinK4(j int, s []byte) (sc, m byte) {
	if j < 4 {
		return s[j] & 63, s[j+4] & 63
	}
	return s[j+4]&0xf | (s[j-4]>>6)<<4, s[j+4]>>4 | (s[j]>>6)<<4
}

// Q4_K: d f16 | dmin f16 | scales[12] | qs[128]. Element e of 32-element
// sub-block j = e/32 is nibble j%2 of qs[32*(j/2) + e%32];
// y = q*d*sc[j] - dmin*m[j].
func decodeQ4_K(y []float32, b []byte) {
	d, dmin := half(b), half(b[2:])
	scales, qs := b[4:16], b[16:144]
	for j := 0; j < 8; j++ {
		sc, m := scaleMinK4(j, scales)
		dj, mj := d*float32(sc), dmin*float32(m)
		shift := 4 * (j & 1)
		src := qs[32*(j>>1) : 32*(j>>1)+32]
		out := y[32*j : 32*j+32]
		for l, q := range src {
			out[l] = float32(dj*float32(q>>shift&0xf)) - mj
		}
	}
}

// Q5_K: d f16 | dmin f16 | scales[12] | qh[32] | qs[128]: Q4_K plus a fifth
// bit, bit j of qh[e%32], for sub-block j.
func decodeQ5_K(y []float32, b []byte) {
	d, dmin := half(b), half(b[2:])
	scales, qh, qs := b[4:16], b[16:48], b[48:176]
	for j := 0; j < 8; j++ {
		sc, m := scaleMinK4(j, scales)
		dj, mj := d*float32(sc), dmin*float32(m)
		shift := 4 * (j & 1)
		src := qs[32*(j>>1) : 32*(j>>1)+32]
		out := y[32*j : 32*j+32]
		for l, q := range src {
			v := q>>shift&0xf | (qh[l]>>j&1)<<4
			out[l] = float32(dj*float32(v)) - mj
		}
	}
}

// Q6_K: ql[128] | qh[64] | scales int8[16] | d f16. In half h = e/128, with
// o = e%128: the low four bits are nibble o/64 of ql[64h + o%64], the high
// two bits are (qh[32h + o%32] >> 2*(o/32)) & 3; y = d*scales[e/16]*(q - 32).
func decodeQ6_K(y []float32, b []byte) {
	ql, qh, scales := b[0:128], b[128:192], b[192:208]
	d := half(b[208:])
	for g := 0; g < 16; g++ {
		dl := d * float32(int8(scales[g]))
		for e := 16 * g; e < 16*g+16; e++ {
			h, o := e>>7, e&127
			lo := ql[64*h+o&63] >> (4 * (o >> 6)) & 0xf
			hi := qh[32*h+o&31] >> (2 * (o >> 5)) & 3
			y[e] = dl * float32(int(lo|hi<<4)-32)
		}
	}
}
