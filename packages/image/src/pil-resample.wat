;; Pillow's 8-bit resampling (libImaging/Resample.c) and CLIP's rescale/normalise, in WebAssembly with SIMD.
;; The same arithmetic as the JavaScript in pil-resize.ts (its reference and fallback): coefficients in 22-bit
;; fixed point computed by the caller, a 32-bit accumulator starting at 1 << 21, each pass shifted down by 22 and
;; clamped to 0…255. `pnpm --filter @vlfer/image build:wasm` compiles this file into pil-resample-wasm.ts.
;; Every pointer is a byte offset into the exported memory; the caller lays the buffers out and pads them.
(module
  (memory (export "memory") 1)

  ;; clip8: (s >> 22) clamped to 0…255
  (func $clip8 (param $s i32) (result i32)
    (local $v i32)
    (local.set $v (i32.shr_s (local.get $s) (i32.const 22)))
    (select (i32.const 0)
      (select (i32.const 255) (local.get $v) (i32.gt_s (local.get $v) (i32.const 255)))
      (i32.lt_s (local.get $v) (i32.const 0))))

  ;; Horizontal pass: for `rows` rows of `src` (width·ch bytes each), the output columns x0 … x0+count−1.
  ;; bounds: [xmin, n] i32 pairs per output column; kk: ksize i32 weights per output column, ksize a multiple of 4
  ;; and the weights past n zero, so that grey and RGB take their taps four at a time (SIMD over the taps: an
  ;; integer sum in any order is Pillow's sum). Those read up to 13 bytes past a row's last tap: the caller pads
  ;; src by 16 bytes. dst: rows · count · ch bytes, plus 1 byte of padding (an RGB pixel is stored as 4 bytes,
  ;; the fourth overwritten by the next pixel).
  (func (export "hpass")
    (param $src i32) (param $width i32) (param $ch i32) (param $rows i32)
    (param $x0 i32) (param $count i32) (param $bounds i32) (param $kk i32) (param $ksize i32) (param $dst i32)
    (local $y i32) (local $xx i32) (local $xend i32) (local $n i32) (local $t i32) (local $c i32)
    (local $inRow i32) (local $p i32) (local $k i32) (local $s i32) (local $stride i32)
    (local $v v128) (local $w v128) (local $a0 v128) (local $a1 v128) (local $a2 v128)
    (local.set $stride (i32.mul (local.get $width) (local.get $ch)))
    (local.set $xend (i32.add (local.get $x0) (local.get $count)))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $y) (local.get $rows)))
        (local.set $inRow (i32.add (local.get $src) (i32.mul (local.get $y) (local.get $stride))))
        (local.set $xx (local.get $x0))
        (block $cols_done
          (loop $cols_loop
            (br_if $cols_done (i32.ge_u (local.get $xx) (local.get $xend)))
            (local.set $n (i32.load offset=4 (i32.add (local.get $bounds) (i32.shl (local.get $xx) (i32.const 3)))))
            (local.set $p (i32.add (local.get $inRow)
              (i32.mul (i32.load (i32.add (local.get $bounds) (i32.shl (local.get $xx) (i32.const 3)))) (local.get $ch))))
            (local.set $k (i32.add (local.get $kk) (i32.shl (i32.mul (local.get $xx) (local.get $ksize)) (i32.const 2))))
            (if (i32.eq (local.get $ch) (i32.const 3))
              (then
                ;; lanes: four taps of R, of G, of B; 1 << 21 (Pillow's rounding) once, in lane 0 of each
                (local.set $a0 (v128.const i32x4 2097152 0 0 0))
                (local.set $a1 (local.get $a0))
                (local.set $a2 (local.get $a0))
                (local.set $t (i32.const 0))
                (block $taps3_done
                  (loop $taps3
                    (br_if $taps3_done (i32.ge_u (local.get $t) (local.get $n)))
                    ;; pixels t … t+3 (12 bytes), each channel's four bytes zero-extended to i32 lanes
                    (local.set $v (v128.load (local.get $p)))
                    (local.set $w (v128.load (local.get $k)))
                    (local.set $a0 (i32x4.add (local.get $a0) (i32x4.mul (local.get $w)
                      (i8x16.swizzle (local.get $v) (v128.const i8x16 0 128 128 128 3 128 128 128 6 128 128 128 9 128 128 128)))))
                    (local.set $a1 (i32x4.add (local.get $a1) (i32x4.mul (local.get $w)
                      (i8x16.swizzle (local.get $v) (v128.const i8x16 1 128 128 128 4 128 128 128 7 128 128 128 10 128 128 128)))))
                    (local.set $a2 (i32x4.add (local.get $a2) (i32x4.mul (local.get $w)
                      (i8x16.swizzle (local.get $v) (v128.const i8x16 2 128 128 128 5 128 128 128 8 128 128 128 11 128 128 128)))))
                    (local.set $p (i32.add (local.get $p) (i32.const 12)))
                    (local.set $k (i32.add (local.get $k) (i32.const 16)))
                    (local.set $t (i32.add (local.get $t) (i32.const 4)))
                    (br $taps3)))
                ;; the four lanes of each summed: [R0+R2, R1+R3, G0+G2, G1+G3] and [B0+B2, B1+B3, …], then [R, G, B, B]
                (local.set $a0 (i32x4.add
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a0) (local.get $a1))
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a0) (local.get $a1))))
                (local.set $a2 (i32x4.add (local.get $a2)
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a2) (local.get $a2))))
                (local.set $a0 (i32x4.add
                  (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a0) (local.get $a2))
                  (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a0) (local.get $a2))))
                ;; >> 22 and clip8 by saturating narrows (as in vpass); four bytes stored, the fourth overwritten next
                (local.set $a0 (i32x4.shr_s (local.get $a0) (i32.const 22)))
                (local.set $a0 (i16x8.narrow_i32x4_s (local.get $a0) (local.get $a0)))
                (i32.store (local.get $dst) (i32x4.extract_lane 0 (i8x16.narrow_i16x8_u (local.get $a0) (local.get $a0))))
                (local.set $dst (i32.add (local.get $dst) (i32.const 3))))
              (else
                (if (i32.eq (local.get $ch) (i32.const 1))
                  (then
                    ;; lanes: four taps
                    (local.set $a0 (v128.const i32x4 2097152 0 0 0))
                    (local.set $t (i32.const 0))
                    (block $taps1_done
                      (loop $taps1
                        (br_if $taps1_done (i32.ge_u (local.get $t) (local.get $n)))
                        (local.set $a0 (i32x4.add (local.get $a0) (i32x4.mul (v128.load (local.get $k))
                          (i32x4.extend_low_i16x8_u (v128.load8x8_u (local.get $p))))))
                        (local.set $p (i32.add (local.get $p) (i32.const 4)))
                        (local.set $k (i32.add (local.get $k) (i32.const 16)))
                        (local.set $t (i32.add (local.get $t) (i32.const 4)))
                        (br $taps1)))
                    (local.set $a0 (i32x4.add (local.get $a0)
                      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a0) (local.get $a0))))
                    (local.set $a0 (i32x4.add (local.get $a0)
                      (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $a0) (local.get $a0))))
                    (i32.store8 (local.get $dst) (call $clip8 (i32x4.extract_lane 0 (local.get $a0))))
                    (local.set $dst (i32.add (local.get $dst) (i32.const 1))))
                  (else
                    ;; other channel counts (LA, RGBA, CMYK): one channel and one tap at a time
                    (local.set $c (i32.const 0))
                    (block $chans_done
                      (loop $chans
                        (br_if $chans_done (i32.ge_u (local.get $c) (local.get $ch)))
                        (local.set $s (i32.const 2097152))
                        (local.set $t (i32.const 0))
                        (block $taps_done
                          (loop $taps
                            (br_if $taps_done (i32.ge_u (local.get $t) (local.get $n)))
                            (local.set $s (i32.add (local.get $s)
                              (i32.mul
                                (i32.load8_u (i32.add (local.get $p) (i32.add (i32.mul (local.get $t) (local.get $ch)) (local.get $c))))
                                (i32.load (i32.add (local.get $k) (i32.shl (local.get $t) (i32.const 2)))))))
                            (local.set $t (i32.add (local.get $t) (i32.const 1)))
                            (br $taps)))
                        (i32.store8 (local.get $dst) (call $clip8 (local.get $s)))
                        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
                        (local.set $c (i32.add (local.get $c) (i32.const 1)))
                        (br $chans)))))))
            (local.set $xx (i32.add (local.get $xx) (i32.const 1)))
            (br $cols_loop)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $rows_loop))))

  ;; Vertical pass: output rows y0 … y0+rows−1, each `len` bytes read from input rows of `rowLen` bytes
  ;; (input row j at img + (j − rowBase)·rowLen + colOff). bounds/kk as in hpass, per output row.
  ;; 16 bytes at a time; the caller pads img and dst by 16 bytes (a row's last chunk may run past it, and is
  ;; overwritten by the next row or lands in the padding).
  (func (export "vpass")
    (param $img i32) (param $rowLen i32) (param $colOff i32) (param $rowBase i32)
    (param $y0 i32) (param $rows i32) (param $bounds i32) (param $kk i32) (param $ksize i32) (param $len i32) (param $dst i32)
    (local $r i32) (local $yy i32) (local $n i32) (local $k i32) (local $rowSrc i32) (local $i i32) (local $t i32) (local $p i32)
    (local $w v128) (local $v v128) (local $lo v128) (local $hi v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $yy (i32.add (local.get $y0) (local.get $r)))
        (local.set $n (i32.load offset=4 (i32.add (local.get $bounds) (i32.shl (local.get $yy) (i32.const 3)))))
        (local.set $rowSrc (i32.add (i32.add (local.get $img) (local.get $colOff))
          (i32.mul (i32.sub (i32.load (i32.add (local.get $bounds) (i32.shl (local.get $yy) (i32.const 3)))) (local.get $rowBase)) (local.get $rowLen))))
        (local.set $k (i32.add (local.get $kk) (i32.shl (i32.mul (local.get $yy) (local.get $ksize)) (i32.const 2))))
        (local.set $i (i32.const 0))
        (block $cols_done
          (loop $cols
            (br_if $cols_done (i32.ge_u (local.get $i) (local.get $len)))
            (local.set $a0 (i32x4.splat (i32.const 2097152)))
            (local.set $a1 (local.get $a0))
            (local.set $a2 (local.get $a0))
            (local.set $a3 (local.get $a0))
            (local.set $p (i32.add (local.get $rowSrc) (local.get $i)))
            (local.set $t (i32.const 0))
            (block $taps_done
              (loop $taps
                (br_if $taps_done (i32.ge_u (local.get $t) (local.get $n)))
                (local.set $w (i32x4.splat (i32.load (i32.add (local.get $k) (i32.shl (local.get $t) (i32.const 2))))))
                (local.set $v (v128.load (local.get $p)))
                (local.set $lo (i16x8.extend_low_i8x16_u (local.get $v)))
                (local.set $hi (i16x8.extend_high_i8x16_u (local.get $v)))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $lo)) (local.get $w))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $lo)) (local.get $w))))
                (local.set $a2 (i32x4.add (local.get $a2) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $hi)) (local.get $w))))
                (local.set $a3 (i32x4.add (local.get $a3) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $hi)) (local.get $w))))
                (local.set $p (i32.add (local.get $p) (local.get $rowLen)))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $taps)))
            ;; >> 22, then saturating narrows: i32 → i16 (signed) → u8 (clamps to 0…255), i.e. clip8
            (v128.store (i32.add (local.get $dst) (local.get $i))
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a0) (i32.const 22)) (i32x4.shr_s (local.get $a1) (i32.const 22)))
                (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a2) (i32.const 22)) (i32x4.shr_s (local.get $a3) (i32.const 22)))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $cols)))
        (local.set $dst (i32.add (local.get $dst) (local.get $len)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; Bytes to CHW float planes through per-channel tables: lut holds 3 × 256 f32 (channel c at lut + 1024·c).
  ;; ch 1: one plane (the caller copies it when all three are equal, or passes ch 1 with three tables: `grey3`);
  ;; ch 3: interleaved RGB to three planes `plane` bytes apart.
  (func (export "planes")
    (param $src i32) (param $count i32) (param $ch i32) (param $lut i32) (param $dst i32) (param $plane i32) (param $grey3 i32)
    (local $p i32) (local $b i32) (local $o i32)
    (block $done
      (loop $px
        (br_if $done (i32.ge_u (local.get $p) (local.get $count)))
        (local.set $o (i32.add (local.get $dst) (i32.shl (local.get $p) (i32.const 2))))
        (if (i32.eq (local.get $ch) (i32.const 3))
          (then
            (local.set $b (i32.add (local.get $src) (i32.mul (local.get $p) (i32.const 3))))
            (f32.store (local.get $o) (f32.load (i32.add (local.get $lut) (i32.shl (i32.load8_u (local.get $b)) (i32.const 2)))))
            (f32.store (i32.add (local.get $o) (local.get $plane))
              (f32.load offset=1024 (i32.add (local.get $lut) (i32.shl (i32.load8_u offset=1 (local.get $b)) (i32.const 2)))))
            (f32.store (i32.add (local.get $o) (i32.shl (local.get $plane) (i32.const 1)))
              (f32.load offset=2048 (i32.add (local.get $lut) (i32.shl (i32.load8_u offset=2 (local.get $b)) (i32.const 2))))))
          (else
            (local.set $b (i32.shl (i32.load8_u (i32.add (local.get $src) (local.get $p))) (i32.const 2)))
            (f32.store (local.get $o) (f32.load (i32.add (local.get $lut) (local.get $b))))
            (if (local.get $grey3)
              (then
                (f32.store (i32.add (local.get $o) (local.get $plane)) (f32.load offset=1024 (i32.add (local.get $lut) (local.get $b))))
                (f32.store (i32.add (local.get $o) (i32.shl (local.get $plane) (i32.const 1)))
                  (f32.load offset=2048 (i32.add (local.get $lut) (local.get $b))))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $px))))
)
