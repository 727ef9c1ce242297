;; The two products of the linear probe's objective (src/probe-kernel.ts), four feature rows at a time, with
;; WebAssembly SIMD (f64x2): each lane runs the same float64 operations, in the same order, as the JavaScript kernel
;; (`jsProbeKernel`), so both give the same bits; the lanes only run two sums at once.
;; Memory (byte offsets from the caller): x [n, D] features, wt [D, k2] the weights transposed (k2 = k rounded up to
;; even, the padding lane 0), bias [k2], grad [k, D], z [4, k] logits, res [4, k] residuals.
(module
  (memory (export "memory") 1)
  ;; z[r·k + j] = b_j + Σ_t W[j, t] · x_r[t], summed in t order from b_j, for the rows r = 0…3 at x0…x3; two classes
  ;; (j, j + 1) per pass, one per lane.
  (func (export "logits4") (param $x0 i32) (param $x1 i32) (param $x2 i32) (param $x3 i32)
        (param $wt i32) (param $bias i32) (param $d i32) (param $k i32) (param $k2 i32) (param $z i32)
    (local $j i32) (local $t i32) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $w v128) (local $p i32) (local $stride i32) (local $o i32)
    (local.set $stride (i32.shl (local.get $k2) (i32.const 3)))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $k)))
      (local.set $a0 (v128.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 3)))))
      (local.set $a1 (local.get $a0)) (local.set $a2 (local.get $a0)) (local.set $a3 (local.get $a0))
      (local.set $p (i32.add (local.get $wt) (i32.shl (local.get $j) (i32.const 3))))
      (local.set $t (i32.const 0))
      (block $td (loop $tl
        (br_if $td (i32.ge_u (local.get $t) (local.get $d)))
        (local.set $w (v128.load (local.get $p)))
        (local.set $o (i32.shl (local.get $t) (i32.const 3)))
        (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $w) (v128.load64_splat (i32.add (local.get $x0) (local.get $o))))))
        (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $w) (v128.load64_splat (i32.add (local.get $x1) (local.get $o))))))
        (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (local.get $w) (v128.load64_splat (i32.add (local.get $x2) (local.get $o))))))
        (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul (local.get $w) (v128.load64_splat (i32.add (local.get $x3) (local.get $o))))))
        (local.set $p (i32.add (local.get $p) (local.get $stride)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tl)))
      ;; store lanes: z[r*k + j] and z[r*k + j + 1] (the second only where j + 1 < k)
      (call $store2 (local.get $z) (local.get $k) (local.get $j) (i32.const 0) (local.get $a0))
      (call $store2 (local.get $z) (local.get $k) (local.get $j) (i32.const 1) (local.get $a1))
      (call $store2 (local.get $z) (local.get $k) (local.get $j) (i32.const 2) (local.get $a2))
      (call $store2 (local.get $z) (local.get $k) (local.get $j) (i32.const 3) (local.get $a3))
      (local.set $j (i32.add (local.get $j) (i32.const 2)))
      (br $jl))))
  (func $store2 (param $z i32) (param $k i32) (param $j i32) (param $r i32) (param $v v128)
    (local $a i32)
    (local.set $a (i32.add (local.get $z) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $k)) (local.get $j)) (i32.const 3))))
    (f64.store (local.get $a) (f64x2.extract_lane 0 (local.get $v)))
    (if (i32.lt_u (i32.add (local.get $j) (i32.const 1)) (local.get $k))
      (then (f64.store offset=8 (local.get $a) (f64x2.extract_lane 1 (local.get $v))))))
  ;; grad[j·D + t] = grad[j·D + t] + r0·x0[t] + r1·x1[t] + r2·x2[t] + r3·x3[t], added left to right, two t per pass
  ;; (an odd D's last t in scalar operations); r_r = res[r·k + j].
  (func (export "gradient4") (param $x0 i32) (param $x1 i32) (param $x2 i32) (param $x3 i32)
        (param $grad i32) (param $d i32) (param $k i32) (param $res i32)
    (local $j i32) (local $t i32) (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $g i32) (local $o i32) (local $d2 i32)
    (local.set $d2 (i32.and (local.get $d) (i32.const -2)))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $k)))
      (local.set $r0 (v128.load64_splat (i32.add (local.get $res) (i32.shl (local.get $j) (i32.const 3)))))
      (local.set $r1 (v128.load64_splat (i32.add (local.get $res) (i32.shl (i32.add (local.get $k) (local.get $j)) (i32.const 3)))))
      (local.set $r2 (v128.load64_splat (i32.add (local.get $res) (i32.shl (i32.add (i32.shl (local.get $k) (i32.const 1)) (local.get $j)) (i32.const 3)))))
      (local.set $r3 (v128.load64_splat (i32.add (local.get $res) (i32.shl (i32.add (i32.mul (local.get $k) (i32.const 3)) (local.get $j)) (i32.const 3)))))
      (local.set $g (i32.add (local.get $grad) (i32.shl (i32.mul (local.get $j) (local.get $d)) (i32.const 3))))
      (local.set $t (i32.const 0))
      (block $td (loop $tl
        (br_if $td (i32.ge_u (local.get $t) (local.get $d2)))
        (local.set $o (i32.shl (local.get $t) (i32.const 3)))
        (v128.store (i32.add (local.get $g) (local.get $o))
          (f64x2.add (f64x2.add (f64x2.add (f64x2.add
            (v128.load (i32.add (local.get $g) (local.get $o)))
            (f64x2.mul (local.get $r0) (v128.load (i32.add (local.get $x0) (local.get $o)))))
            (f64x2.mul (local.get $r1) (v128.load (i32.add (local.get $x1) (local.get $o)))))
            (f64x2.mul (local.get $r2) (v128.load (i32.add (local.get $x2) (local.get $o)))))
            (f64x2.mul (local.get $r3) (v128.load (i32.add (local.get $x3) (local.get $o))))))
        (local.set $t (i32.add (local.get $t) (i32.const 2)))
        (br $tl)))
      ;; odd d: the last element in scalar ops, same order
      (if (i32.lt_u (local.get $d2) (local.get $d)) (then
        (local.set $o (i32.shl (local.get $d2) (i32.const 3)))
        (f64.store (i32.add (local.get $g) (local.get $o))
          (f64.add (f64.add (f64.add (f64.add
            (f64.load (i32.add (local.get $g) (local.get $o)))
            (f64.mul (f64x2.extract_lane 0 (local.get $r0)) (f64.load (i32.add (local.get $x0) (local.get $o)))))
            (f64.mul (f64x2.extract_lane 0 (local.get $r1)) (f64.load (i32.add (local.get $x1) (local.get $o)))))
            (f64.mul (f64x2.extract_lane 0 (local.get $r2)) (f64.load (i32.add (local.get $x2) (local.get $o)))))
            (f64.mul (f64x2.extract_lane 0 (local.get $r3)) (f64.load (i32.add (local.get $x3) (local.get $o))))))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl))))
)
