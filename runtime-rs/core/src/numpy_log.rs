//! NumPy's float64 `np.log`, bit for bit, where NumPy runs its AVX-512 loop.
//!
//! On a CPU with AVX-512 (F, CD, VL, BW, DQ: NumPy's `X86_V4` / `AVX512_SKX` target) NumPy's
//! `DOUBLE_log` calls Intel SVML's `__svml_log8_ha` (vendored in NumPy, BSD-3-Clause), not the
//! C library's `log`: the two differ in the last bit for 1 value in 300 to 700 (measured here:
//! 113k of 35M values of every kind, 7k of 5M uniform), so `f64::ln` cannot reproduce NumPy.
//! This is that routine's main path, instruction for instruction with the same intrinsics
//! (including `vrcp14pd`, whose approximation is the hardware's and picks the table entry, so
//! it cannot be emulated in scalar code) and its constants (`__svml_dlog_ha_data_internal_avx512`).
//! Every lane is independent, so grouping values by eight in any order gives NumPy's result.
//! Zero, negative, infinite, NaN and subnormal inputs take SVML's separate scalar path and are
//! not handled here (`log` returns `None` for them).

/// `-log(r)` (high part, then low part) for `r = 0.5 * (1 + j / 16)` (times 2 below 0.75),
/// indexed by the top four mantissa bits of the rounded reciprocal.
#[cfg(target_arch = "x86_64")]
const TABLE_HI: [u64; 16] = [
    0x0000000000000000,
    0xbfaf0a30c0120000,
    0xbfbe27076e2b0000,
    0xbfc5ff3070a78000,
    0xbfcc8ff7c79a8000,
    0xbfd1675cababc000,
    0xbfd4618bc21c4000,
    0xbfd739d7f6bbc000,
    0x3fd269621134c000,
    0x3fcf991c6cb38000,
    0x3fca93ed3c8b0000,
    0x3fc5bf406b540000,
    0x3fc1178e82280000,
    0x3fb9335e5d590000,
    0x3fb08598b59e0000,
    0x3fa0415d89e80000,
];
#[cfg(target_arch = "x86_64")]
const TABLE_LO: [u64; 16] = [
    0x0000000000000000,
    0x3d53ab33d066d1d2,
    0x3d2a342c2af0003c,
    0xbd43d3c873e20a07,
    0xbd4a21ac25d81ef3,
    0x3d59f1fc63382a8f,
    0xbd5ec27d0b7b37b3,
    0xbd50069ce24c53fb,
    0x3d5b92783beb7677,
    0x3d59bcbecca0cdf3,
    0xbd530e486a0ac42d,
    0x3d5ed8fdc149767e,
    0xbd4b8421cc74be04,
    0x3d52622b8757a8fb,
    0x3d4d034451fecdfb,
    0xbd577771fd187145,
];
/// log(1 + R) - R ~ R^2 * (C2 + C3 R + ... + C9 R^7)
#[cfg(target_arch = "x86_64")]
const C2: u64 = 0xbfdfffffffffffc6;
#[cfg(target_arch = "x86_64")]
const C3: u64 = 0x3fd5555555555466;
#[cfg(target_arch = "x86_64")]
const C4: u64 = 0xbfd00000000c05bd;
#[cfg(target_arch = "x86_64")]
const C5: u64 = 0x3fc9999999cc9f5c;
#[cfg(target_arch = "x86_64")]
const C6: u64 = 0xbfc55553fb28db06;
#[cfg(target_arch = "x86_64")]
const C7: u64 = 0x3fc249229cee81ef;
#[cfg(target_arch = "x86_64")]
const C8: u64 = 0xbfc007357e93af62;
#[cfg(target_arch = "x86_64")]
const C9: u64 = 0x3fbc81cd309d7c70;
#[cfg(target_arch = "x86_64")]
const LN2_HI: u64 = 0x3fe62e42fefa0000;
#[cfg(target_arch = "x86_64")]
const LN2_LO: u64 = 0x3d7cf79abc9e0000;

/// Whether this CPU runs NumPy's AVX-512 log (the features of NumPy's `X86_V4` target).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512cd")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `np.log` of each value into `out` (same length); None when the CPU lacks AVX-512 or a value
/// is not a positive normal float (SVML's scalar path, not reproduced).
pub fn log(x: &[f64], out: &mut [f64]) -> Option<()> {
    assert_eq!(x.len(), out.len());
    if !available() || x.iter().any(|v| !(v.is_normal() && *v > 0.0)) {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let mut xs = x.chunks_exact(8);
        let mut os = out.chunks_exact_mut(8);
        for (xc, oc) in (&mut xs).zip(&mut os) {
            // SAFETY: the features were detected above; the chunks hold 8 values each
            unsafe { log8(xc.as_ptr(), oc.as_mut_ptr()) };
        }
        let (xr, or) = (xs.remainder(), os.into_remainder());
        if !xr.is_empty() {
            // NumPy fills the lanes past the end with 1.0; each lane is independent
            let (mut a, mut b) = ([1.0f64; 8], [0.0f64; 8]);
            a[..xr.len()].copy_from_slice(xr);
            // SAFETY: as above, on local arrays of 8
            unsafe { log8(a.as_ptr(), b.as_mut_ptr()) };
            or.copy_from_slice(&b[..xr.len()]);
        }
        Some(())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// `__svml_log8_ha`'s main path on 8 values at `x`, written to `out`. Every arithmetic
/// operation is SVML's, in its order, rounded to nearest ({rn-sae}).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn log8(x: *const f64, out: *mut f64) {
    use std::arch::x86_64::*;
    const RN: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    let c = |bits: u64| _mm512_set1_pd(f64::from_bits(bits));
    let hi0 = _mm512_loadu_pd(TABLE_HI.as_ptr().cast());
    let hi1 = _mm512_loadu_pd(TABLE_HI[8..].as_ptr().cast());
    let lo0 = _mm512_loadu_pd(TABLE_LO.as_ptr().cast());
    let lo1 = _mm512_loadu_pd(TABLE_LO[8..].as_ptr().cast());
    let one = _mm512_set1_pd(1.0);

    let x = _mm512_loadu_pd(x);
    // x = 2^e * m, m in [1, 2)
    let m = _mm512_getmant_pd::<_MM_MANT_NORM_1_2, _MM_MANT_SIGN_ZERO>(x);
    let e = _mm512_getexp_pd(x);
    // r ~ 1/m rounded to 1/32 (vrcp14pd, vrndscalepd $0x58), R = r * m - 1
    let r = _mm512_roundscale_pd::<0x58>(_mm512_rcp14_pd(m));
    let rr = _mm512_fmsub_round_pd::<RN>(r, m, one);
    let below = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(r, _mm512_set1_pd(0.75));
    let p76 = _mm512_fmadd_round_pd::<RN>(c(C7), rr, c(C6));
    let p98 = _mm512_fmadd_round_pd::<RN>(c(C9), rr, c(C8));
    let r2 = _mm512_mul_round_pd::<RN>(rr, rr);
    let p54 = _mm512_fmadd_round_pd::<RN>(c(C5), rr, c(C4));
    let index = _mm512_srli_epi64::<48>(_mm512_castpd_si512(r));
    let p6789 = _mm512_fmadd_round_pd::<RN>(r2, p98, p76);
    let r4 = _mm512_mul_round_pd::<RN>(r2, r2);
    let p32 = _mm512_fmadd_round_pd::<RN>(c(C3), rr, c(C2));
    // below 0.75 the table holds -log(2r): one more power of two
    let e = _mm512_mask_add_round_pd::<RN>(e, below, e, one);
    let t_hi = _mm512_permutex2var_pd(hi0, index, hi1);
    let t_lo = _mm512_permutex2var_pd(lo0, index, lo1);
    let p2345 = _mm512_fmadd_round_pd::<RN>(r2, p54, p32);
    let k_hi = _mm512_fmadd_round_pd::<RN>(c(LN2_HI), e, t_hi);
    let poly = _mm512_fmadd_round_pd::<RN>(r4, p6789, p2345);
    // (e ln2_hi + T_hi) + R, and the part of R that sum lost
    let head = _mm512_add_round_pd::<RN>(k_hi, rr);
    let taken = _mm512_sub_round_pd::<RN>(head, k_hi);
    let r_lost = _mm512_sub_round_pd::<RN>(rr, taken);
    let tail = _mm512_fmadd_round_pd::<RN>(r2, poly, r_lost);
    let k_lo = _mm512_fmadd_round_pd::<RN>(c(LN2_LO), e, t_lo);
    let low = _mm512_add_round_pd::<RN>(tail, k_lo);
    _mm512_storeu_pd(out, _mm512_add_round_pd::<RN>(head, low));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(x: f64) -> f64 {
        let mut o = [0.0];
        log(&[x], &mut o).expect("AVX-512 and a positive normal input");
        o[0]
    }

    #[test]
    fn numpy_values() {
        if !available() {
            return; // NumPy runs glibc's log on this CPU: nothing to reproduce here
        }
        // (x, np.log(x)) measured with NumPy 2.4 on an AVX-512 machine, where glibc's log
        // (f64::ln) gives the neighbouring float
        let cases: [(u64, u64); 6] = [
            (0x3fe36bbbacb3c43d, 0xbfdff5ffb21d59d1),
            (0x3fe75cdd22bdff08, 0xbfd4224aeed1706e),
            (0x3fe8990c1cf8b9bf, 0xbfd0d641dafd20e3),
            (0x3fee7ffb503ff9b1, 0xbfa894f8c0b6f1f0),
            (0x3fefe617cf20371e, 0xbf69f2b33ccd90f1),
            (0x3fdb912136dc61c4, 0xbfeaf3d992372f52),
        ];
        for (x, want) in cases {
            let x = f64::from_bits(x);
            assert_eq!(one(x).to_bits(), want, "log({x:e})");
            assert_ne!(x.ln().to_bits(), want);
        }
        // sklearn's clip bounds and exact cases
        assert_eq!(one(f64::EPSILON), -36.04365338911715);
        assert_eq!(one(1.0 - f64::EPSILON), -2.220446049250313e-16);
        assert_eq!(one(0.5), -std::f64::consts::LN_2);
        assert_eq!(one(1.0), 0.0);
    }

    #[test]
    fn lanes_are_independent_and_the_tail_is_handled() {
        if !available() {
            return;
        }
        let x: Vec<f64> = (1..=21).map(|i| i as f64 / 23.0).collect();
        let mut all = vec![0.0; x.len()];
        log(&x, &mut all).unwrap();
        for (i, &v) in x.iter().enumerate() {
            assert_eq!(one(v).to_bits(), all[i].to_bits());
            assert!((all[i] - v.ln()).abs() <= 2.0 * f64::EPSILON * v.ln().abs());
        }
        let mut o = [0.0; 2];
        assert!(log(&[0.0, 1.0], &mut o).is_none());
        assert!(log(&[f64::NAN, 1.0], &mut o).is_none());
        assert!(log(&[1e-310, 1.0], &mut o).is_none());
    }
}
