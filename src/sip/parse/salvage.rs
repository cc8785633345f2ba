//! Lenient reading of a message that failed to parse, so the switch can still
//! answer it with 400 (RFC 3261 §8.2.6.1 copies Via, From, To, Call-ID, CSeq).

use super::lex;
use super::{HeaderName, Salvage};
use crate::sip::limits::{HEADERS_MAX, MESSAGE_BYTES_MAX, VIAS_MAX};

pub(super) fn salvage(raw: &[u8]) -> Option<Salvage> {
    let raw = &raw[..raw.len().min(MESSAGE_BYTES_MAX)];
    let mut lines = raw
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip_while(|l| l.is_empty());
    let first = lines.next()?;
    if first.len() >= 4 && first[..4].eq_ignore_ascii_case(b"SIP/") {
        return None;
    }
    let mut out = Salvage {
        is_request: true,
        ..Salvage::default()
    };
    // Unfold as we go: a line starting with WSP continues the previous one.
    let mut current: Option<(HeaderName, String)> = None;
    for line in lines.take(HEADERS_MAX * 4) {
        if line.first().is_some_and(|&c| lex::is_wsp(c)) {
            if let Some((_, value)) = current.as_mut() {
                value.push(' ');
                value.push_str(lex::trim(&String::from_utf8_lossy(line)));
            }
            continue;
        }
        if let Some((name, value)) = current.take() {
            take(&mut out, name, value);
        }
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name =
            HeaderName::parse(lex::trim(&String::from_utf8_lossy(&line[..colon])).as_bytes());
        let value = lex::trim(&String::from_utf8_lossy(&line[colon + 1..])).to_owned();
        current = Some((name, value));
    }
    if let Some((name, value)) = current.take() {
        take(&mut out, name, value);
    }
    if out.vias.is_empty() {
        return None;
    }
    Some(out)
}

fn take(out: &mut Salvage, name: HeaderName, value: String) {
    let first = |slot: &mut Option<String>| {
        if slot.is_none() {
            *slot = Some(value.clone());
        }
    };
    match name {
        HeaderName::Via => {
            for via in lex::ListIter::new(&value) {
                if out.vias.len() < VIAS_MAX {
                    out.vias.push(via.to_owned());
                }
            }
        }
        HeaderName::From => first(&mut out.from),
        HeaderName::To => first(&mut out.to),
        HeaderName::CallId => first(&mut out.call_id),
        HeaderName::CSeq => first(&mut out.cseq),
        _ => {}
    }
}
