//! The two sub-band ADPCM coders of G.722 (ITU-T G.722 §3, §4, §6.2): the
//! lower band codes 6 bits per sample at 64 kbit/s (mode 1), the higher band
//! 2 bits. Blocks are named as in the Recommendation (QUANTL, INVQAL, LOGSCL,
//! SCALEL, the adaptive predictor of BLOCK 4). Integer arithmetic only, as
//! §6.2 prescribes: truncating products, saturating sums.
//!
//! The encoder and decoder run the same predictor and scale adaptation on the
//! same quantised difference, so they stay in lockstep without side channel.

/// Lower-band decision levels Q6 (Table 14/G.722), scaled by DETL in QUANTL;
/// levels 1..QUANTL_LEVELS are compared, the last interval is open.
const QUANTL_LEVELS: usize = 30;
const Q6: [i32; 32] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];
/// Lower-band code words for negative (ILN) and positive (ILP) differences.
const ILN: [u8; 32] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4, 0,
];
const ILP: [u8; 32] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32, 0,
];
/// Logarithmic scale factor multipliers of the lower band (Table 15/G.722).
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
/// 4-bit code → WL index.
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
/// Inverse log table ILB (Table 18/G.722), shared by both bands.
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// 4-bit inverse quantiser QQ4 (Table 16/G.722): what the predictor sees.
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
/// 6-bit inverse quantiser QQ6 (Table 17/G.722): the mode 1 decoder output.
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// Higher-band inverse quantiser QQ2, scale multipliers WH and code → WH index.
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
const WH: [i32; 3] = [0, -214, 798];
const RH2: [usize; 4] = [2, 1, 2, 1];
/// Higher-band code words for negative (IHN) and positive (IHP) differences.
const IHN: [u8; 3] = [0, 1, 0];
const IHP: [u8; 3] = [0, 3, 2];
/// Higher-band decision level Q2 (§3.6.1).
const Q2: i32 = 564;

/// Bounds of the log scale factors NBL and NBH (§3.5, §3.8).
const NBL_MAX: i32 = 18_432;
const NBH_MAX: i32 = 22_528;
/// Bounds of a band signal (Table 9/G.722: 15-bit words), kept by LIMIT.
const BAND_MIN: i32 = -16_384;
const BAND_MAX: i32 = 16_383;
/// Pole coefficient limits of UPPOL1/UPPOL2 (§3.6.3).
const A2_LIMIT: i32 = 12_288;
const A1_A2_SUM_LIMIT: i32 = 15_360;
/// Scale factors at reset (§3.9): DETL = 32, DETH = 8.
const DETL_RESET: i32 = 32;
const DETH_RESET: i32 = 8;

/// One band's adaptive state: scale factor and the pole-zero predictor.
#[derive(Debug, Clone)]
pub(super) struct Band {
    /// Predicted signal S (SL/SH) and its zero-section part SZ.
    s: i32,
    sz: i32,
    /// Log scale factor NB and the scale factor DET.
    nb: i32,
    det: i32,
    /// Partially reconstructed signal P, reconstructed signal R (index 0 is now).
    p: [i32; 3],
    r: [i32; 3],
    /// Pole coefficients A (1, 2) and zero coefficients B (1..=6); index 0 unused.
    a: [i32; 3],
    b: [i32; 7],
    /// Quantised differences D (index 0 is now).
    d: [i32; 7],
}

impl Band {
    fn reset(det: i32) -> Self {
        Self {
            s: 0,
            sz: 0,
            nb: 0,
            det,
            p: [0; 3],
            r: [0; 3],
            a: [0; 3],
            b: [0; 7],
            d: [0; 7],
        }
    }

    pub(super) fn low() -> Self {
        Self::reset(DETL_RESET)
    }

    pub(super) fn high() -> Self {
        Self::reset(DETH_RESET)
    }

    /// Lower-band encoder step: SUBTL, QUANTL, then the shared adaptation.
    /// Returns the 6-bit code IL.
    pub(super) fn encode_low(&mut self, xl: i32) -> u8 {
        let el = sat(xl - self.s);
        let wd = if el >= 0 { el } else { -(el + 1) };
        let i = (1..QUANTL_LEVELS)
            .find(|&i| wd < (Q6[i] * self.det) >> 12)
            .unwrap_or(QUANTL_LEVELS);
        let il = if el < 0 { ILN[i] } else { ILP[i] };
        self.adapt_low(il);
        il
    }

    /// Lower-band decoder step (mode 1): INVQBL, RECONS, LIMIT from the
    /// 6-bit code, then the shared adaptation. Returns RL.
    pub(super) fn decode_low(&mut self, il: u8) -> i32 {
        let dl6 = (self.det * QM6[usize::from(il & 0x3F)]) >> 15;
        let rl = limit(self.s + dl6);
        self.adapt_low(il);
        rl
    }

    /// Higher-band encoder step: SUBTH, QUANTH, then adaptation. Returns IH.
    pub(super) fn encode_high(&mut self, xh: i32) -> u8 {
        let eh = sat(xh - self.s);
        let wd = if eh >= 0 { eh } else { -(eh + 1) };
        let mih = if wd >= (Q2 * self.det) >> 12 { 2 } else { 1 };
        let ih = if eh < 0 { IHN[mih] } else { IHP[mih] };
        self.adapt_high(ih);
        ih
    }

    /// Higher-band decoder step: INVQAH, RECONS, LIMIT, adaptation. Returns RH.
    pub(super) fn decode_high(&mut self, ih: u8) -> i32 {
        let dh = (self.det * QM2[usize::from(ih & 0x03)]) >> 15;
        let rh = limit(self.s + dh);
        self.adapt_high(ih);
        rh
    }

    /// INVQAL (4-bit truncated code), LOGSCL, SCALEL, BLOCK 4L.
    fn adapt_low(&mut self, il: u8) {
        let ril = usize::from(il >> 2);
        let dl = (self.det * QM4[ril]) >> 15;
        self.nb = (((self.nb * 127) >> 7) + WL[RL42[ril]]).clamp(0, NBL_MAX);
        self.det = scale(self.nb, 8);
        self.predict(dl);
    }

    /// INVQAH, LOGSCH, SCALEH, BLOCK 4H.
    fn adapt_high(&mut self, ih: u8) {
        let ih = usize::from(ih & 0x03);
        let dh = (self.det * QM2[ih]) >> 15;
        self.nb = (((self.nb * 127) >> 7) + WH[RH2[ih]]).clamp(0, NBH_MAX);
        self.det = scale(self.nb, 10);
        self.predict(dh);
    }

    /// BLOCK 4 (§3.6): RECONS, PARREC, UPPOL2, UPPOL1, UPZERO, DELAYA,
    /// FILTEP, FILTEZ, PREDIC, on the quantised difference `d`.
    fn predict(&mut self, d: i32) {
        self.d[0] = d;
        self.r[0] = sat(self.s + d);
        self.p[0] = sat(self.sz + d);
        let (ap1, ap2) = self.poles();
        let bp = self.zeros(d);
        self.d.copy_within(0..6, 1);
        self.b[1..].copy_from_slice(&bp);
        self.r.copy_within(0..2, 1);
        self.p.copy_within(0..2, 1);
        self.a = [0, ap1, ap2];
        // FILTEP
        let wd1 = (self.a[1] * sat(self.r[1] + self.r[1])) >> 15;
        let wd2 = (self.a[2] * sat(self.r[2] + self.r[2])) >> 15;
        let sp = sat(wd1 + wd2);
        // FILTEZ, saturating at each step as the reference's 16-bit adds do.
        self.sz = (1..7).rev().fold(0, |acc, i| {
            sat(acc + ((self.b[i] * sat(self.d[i] + self.d[i])) >> 15))
        });
        // PREDIC
        self.s = sat(sp + self.sz);
    }

    /// UPPOL2 then UPPOL1: the new pole coefficients (AP1, AP2).
    fn poles(&self) -> (i32, i32) {
        let sg = |x: i32| x >> 15;
        let (sg0, sg1, sg2) = (sg(self.p[0]), sg(self.p[1]), sg(self.p[2]));
        let wd1 = sat(self.a[1] << 2);
        // The negation saturates: -(-32768) is 32767 in 16 bits.
        let wd2 = if sg0 == sg1 { (-wd1).min(32_767) } else { wd1 };
        let wd3 = if sg0 == sg2 { 128 } else { -128 } + (wd2 >> 7) + ((self.a[2] * 32_512) >> 15);
        let ap2 = wd3.clamp(-A2_LIMIT, A2_LIMIT);
        let wd1 = if sg0 == sg1 { 192 } else { -192 };
        let ap1 = sat(wd1 + ((self.a[1] * 32_640) >> 15));
        let limit = sat(A1_A2_SUM_LIMIT - ap2);
        (ap1.clamp(-limit, limit), ap2)
    }

    /// UPZERO: the new zero coefficients BP1..BP6.
    fn zeros(&self, d: i32) -> [i32; 6] {
        let step = if d == 0 { 0 } else { 128 };
        let sg0 = d >> 15;
        std::array::from_fn(|k| {
            let i = k + 1;
            let wd2 = if self.d[i] >> 15 == sg0 { step } else { -step };
            sat(wd2 + ((self.b[i] * 32_640) >> 15))
        })
    }
}

/// SCALEL/SCALEH: the scale factor DET from the log scale factor `nb`;
/// `shift` is 8 for the lower band and 10 for the higher.
fn scale(nb: i32, shift: i32) -> i32 {
    let wd1 = ILB[((nb >> 6) & 31) as usize];
    let wd2 = shift - (nb >> 11);
    let wd3 = if wd2 < 0 { wd1 << -wd2 } else { wd1 >> wd2 };
    wd3 << 2
}

/// LIMIT (BLOCK 6L/6H, and the transmit QMF's outputs in the G.191
/// reference): a band signal is a 15-bit word.
pub(super) fn limit(x: i32) -> i32 {
    x.clamp(BAND_MIN, BAND_MAX)
}

/// Saturates to 16 bits, as every sum in §6.2 does.
pub(super) fn sat(x: i32) -> i32 {
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}
