//! Feeds arbitrary bytes to SRTP and SRTCP unprotect, as a peer on a
//! secured leg could send them, and after a packet that authenticates
//! (made with the same key, so the decrypt and replay paths run too), for
//! both suites (AES_CM and AEAD_AES_128_GCM). Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::media::srtp::{MasterKey, SrtpContext, Suite, RTCP_OVERHEAD, RTP_OVERHEAD};

fuzz_target!(|data: &[u8]| {
    for suite in Suite::OFFERED {
        let key = MasterKey::for_suite(suite, &[0x5a; 30][..suite.key_params_bytes()])
            .expect("a key of the suite's length");
        let mut rx = SrtpContext::new(&key);
        let mut buf = data.to_vec();
        let _ = rx.unprotect_rtp(&mut buf);
        let mut buf = data.to_vec();
        let _ = rx.unprotect_rtcp(&mut buf);
        // The same bytes protected first: they authenticate, so the header
        // walk, rollover estimate and window run on fuzzed sequence numbers.
        let mut tx = SrtpContext::new(&key);
        let mut buf = vec![0u8; data.len() + RTP_OVERHEAD.max(RTCP_OVERHEAD)];
        buf[..data.len()].copy_from_slice(data);
        if let Ok(n) = tx.protect_rtp(&mut buf, data.len()) {
            let mut packet = buf[..n].to_vec();
            let _ = rx.unprotect_rtp(&mut packet);
        }
        buf[..data.len()].copy_from_slice(data);
        if let Ok(n) = tx.protect_rtcp(&mut buf, data.len()) {
            let mut packet = buf[..n].to_vec();
            let _ = rx.unprotect_rtcp(&mut packet);
        }
        let _ = MasterKey::from_inline_for(suite, &String::from_utf8_lossy(data));
    }
});
