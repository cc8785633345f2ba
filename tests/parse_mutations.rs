//! Truncated and mutated RFC 4475 messages never make the parser panic:
//! every message is cut at every length, then mutated a bounded number of
//! times by a fixed-seed PRNG (no clock, no thread RNG), and each input goes
//! through `parse`, `frame`, `salvage` and every accessor.

use bytes::Bytes;
use switchyard::sip::parse::{
    salvage, Contacts, HeaderName, Message, NameAddr, StartLine, Uri, Via,
};

const MESSAGES: &[(&str, &[u8])] = &[
    ("badaspec", include_bytes!("data/rfc4475/badaspec.dat")),
    ("badbranch", include_bytes!("data/rfc4475/badbranch.dat")),
    ("baddate", include_bytes!("data/rfc4475/baddate.dat")),
    ("baddn", include_bytes!("data/rfc4475/baddn.dat")),
    ("badinv01", include_bytes!("data/rfc4475/badinv01.dat")),
    ("badvers", include_bytes!("data/rfc4475/badvers.dat")),
    ("bcast", include_bytes!("data/rfc4475/bcast.dat")),
    ("bext01", include_bytes!("data/rfc4475/bext01.dat")),
    ("bigcode", include_bytes!("data/rfc4475/bigcode.dat")),
    ("clerr", include_bytes!("data/rfc4475/clerr.dat")),
    ("cparam01", include_bytes!("data/rfc4475/cparam01.dat")),
    ("cparam02", include_bytes!("data/rfc4475/cparam02.dat")),
    ("dblreq", include_bytes!("data/rfc4475/dblreq.dat")),
    ("esc01", include_bytes!("data/rfc4475/esc01.dat")),
    ("esc02", include_bytes!("data/rfc4475/esc02.dat")),
    ("escnull", include_bytes!("data/rfc4475/escnull.dat")),
    ("escruri", include_bytes!("data/rfc4475/escruri.dat")),
    ("insuf", include_bytes!("data/rfc4475/insuf.dat")),
    ("intmeth", include_bytes!("data/rfc4475/intmeth.dat")),
    ("inv2543", include_bytes!("data/rfc4475/inv2543.dat")),
    ("invut", include_bytes!("data/rfc4475/invut.dat")),
    ("longreq", include_bytes!("data/rfc4475/longreq.dat")),
    ("ltgtruri", include_bytes!("data/rfc4475/ltgtruri.dat")),
    ("lwsdisp", include_bytes!("data/rfc4475/lwsdisp.dat")),
    ("lwsruri", include_bytes!("data/rfc4475/lwsruri.dat")),
    ("lwsstart", include_bytes!("data/rfc4475/lwsstart.dat")),
    ("mcl01", include_bytes!("data/rfc4475/mcl01.dat")),
    ("mismatch01", include_bytes!("data/rfc4475/mismatch01.dat")),
    ("mismatch02", include_bytes!("data/rfc4475/mismatch02.dat")),
    ("mpart01", include_bytes!("data/rfc4475/mpart01.dat")),
    ("multi01", include_bytes!("data/rfc4475/multi01.dat")),
    ("ncl", include_bytes!("data/rfc4475/ncl.dat")),
    ("noreason", include_bytes!("data/rfc4475/noreason.dat")),
    ("novelsc", include_bytes!("data/rfc4475/novelsc.dat")),
    ("quotbal", include_bytes!("data/rfc4475/quotbal.dat")),
    ("regaut01", include_bytes!("data/rfc4475/regaut01.dat")),
    ("regbadct", include_bytes!("data/rfc4475/regbadct.dat")),
    ("regescrt", include_bytes!("data/rfc4475/regescrt.dat")),
    ("scalar02", include_bytes!("data/rfc4475/scalar02.dat")),
    ("scalarlg", include_bytes!("data/rfc4475/scalarlg.dat")),
    ("sdp01", include_bytes!("data/rfc4475/sdp01.dat")),
    ("semiuri", include_bytes!("data/rfc4475/semiuri.dat")),
    ("test", include_bytes!("data/rfc4475/test.dat")),
    ("transports", include_bytes!("data/rfc4475/transports.dat")),
    ("trws", include_bytes!("data/rfc4475/trws.dat")),
    ("unkscm", include_bytes!("data/rfc4475/unkscm.dat")),
    ("unksm2", include_bytes!("data/rfc4475/unksm2.dat")),
    ("unreason", include_bytes!("data/rfc4475/unreason.dat")),
    ("wsinv", include_bytes!("data/rfc4475/wsinv.dat")),
    ("zeromf", include_bytes!("data/rfc4475/zeromf.dat")),
];

/// Mutated copies per message, and byte edits per copy.
const MUTANTS_PER_MESSAGE: usize = 400;
const EDITS_PER_MUTANT_MAX: u64 = 4;
const SEED: u64 = 0x5157_4c45_4154_4852;

/// Bytes that steer the parser into its interesting branches.
const SPECIAL: &[u8] = b"\r\n \t:;,<>\"\\@[]%=/?*0123456789\x00\xff";

/// xorshift64*: small, deterministic, good enough to pick edits.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    let edits = 1 + rng.next() % EDITS_PER_MUTANT_MAX;
    for _ in 0..edits {
        let at = rng.below(input.len() + 1);
        let byte = if rng.next().is_multiple_of(2) {
            SPECIAL[rng.below(SPECIAL.len())]
        } else {
            rng.next() as u8
        };
        match rng.next() % 4 {
            0 if at < input.len() => input[at] = byte,
            1 if at < input.len() => {
                input.remove(at);
            }
            2 => input.insert(at, byte),
            _ => {
                // Duplicate a slice: repeats header lines and separators.
                let len = rng.below(64).min(input.len() - at.min(input.len()));
                let copy = input[at..at + len].to_vec();
                input.splice(at..at, copy);
            }
        }
    }
}

fn touch_uri(uri: &Uri) {
    let _ = (
        uri.scheme(),
        uri.user(),
        uri.host(),
        uri.port(),
        uri.as_str(),
        uri.headers(),
    );
    let _ = (uri.param("transport"), uri.param("lr"), uri.param(""));
}

fn touch_addr(addr: &NameAddr) {
    let _ = (
        addr.display_name(),
        addr.tag(),
        addr.as_str(),
        addr.param("tag"),
        addr.param("expires"),
    );
    touch_uri(addr.uri());
}

fn touch_via(via: &Via) {
    let _ = (
        via.transport(),
        via.host(),
        via.port(),
        via.sent_by(),
        via.branch(),
        via.as_str(),
    );
    let _ = (
        via.param("received"),
        via.param("rport"),
        via.param("BRANCH"),
    );
}

fn touch(m: &Message) {
    match m.start_line() {
        StartLine::Request { method, uri } => {
            let _ = method.as_str();
            touch_uri(uri);
        }
        StartLine::Response { status, reason } => {
            let _ = (status, reason.as_str());
        }
    }
    let _ = (
        m.is_request(),
        m.method(),
        m.request_uri().map(Uri::as_str),
        m.status(),
    );
    assert!(!m.vias().is_empty(), "vias() is never empty");
    m.vias().iter().for_each(touch_via);
    touch_addr(m.from());
    touch_addr(m.to());
    let _ = (
        m.call_id(),
        m.cseq().seq,
        m.cseq().method.as_str(),
        m.max_forwards(),
        m.expires(),
    );
    if let Contacts::List(list) = m.contacts() {
        list.iter().for_each(touch_addr);
    }
    let _ = (m.content_type(), m.body().len(), m.as_bytes().len());
    for name in [
        HeaderName::Route,
        HeaderName::Supported,
        HeaderName::parse(b"x-unknown"),
        HeaderName::Via,
    ] {
        let _ = m.header(&name);
        let _ = m.header_all(&name).count();
        let _ = m.header_tokens(&name).count();
        let _ = m.header_values(&name).count();
    }
    for (name, value) in m.headers() {
        let _ = (name.as_str(), value.len());
    }
    for value in m.header_values(&HeaderName::Route) {
        if let Ok(addr) = NameAddr::parse(
            switchyard::sip::parse::ByteStr::from_utf8(Bytes::copy_from_slice(value.as_bytes()))
                .unwrap(),
        ) {
            touch_addr(&addr);
        }
    }
}

fn exercise(input: &[u8]) {
    if let Ok(m) = Message::parse(Bytes::copy_from_slice(input)) {
        touch(&m);
    }
    if let Ok(Some(n)) = Message::frame(input) {
        assert!(n <= input.len(), "a frame lies within the buffer");
    }
    let _ = salvage(input);
}

#[test]
fn truncated_rfc4475_messages_never_panic() {
    for (_, raw) in MESSAGES {
        for len in 0..=raw.len() {
            exercise(&raw[..len]);
        }
    }
}

#[test]
fn mutated_rfc4475_messages_never_panic() {
    let mut rng = Rng(SEED);
    let mut count = 0usize;
    for (name, raw) in MESSAGES {
        for i in 0..MUTANTS_PER_MESSAGE {
            let mut input = raw.to_vec();
            mutate(&mut rng, &mut input);
            let outcome = std::panic::catch_unwind(|| exercise(&input));
            assert!(
                outcome.is_ok(),
                "{name} mutant {i} panicked (seed {SEED:#x}): {:?}",
                String::from_utf8_lossy(&input)
            );
            count += 1;
        }
    }
    assert_eq!(count, MESSAGES.len() * MUTANTS_PER_MESSAGE);
}
