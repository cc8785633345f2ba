//! Feeds an arbitrary byte stream to the TCP/TLS framer the way a socket
//! delivers it: in chunks of a fuzzed size. Nothing may panic, every frame
//! must lie inside the buffer, and the frames found must not depend on how
//! the stream was split (the same bytes in one read give the same frames).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchyard::sip::limits::MESSAGE_BYTES_MAX;
use switchyard::sip::parse::{Message, ParseError};

/// The frame lengths found, the bytes left over, and how the stream ended.
type Outcome = (Vec<usize>, usize, Option<String>);

fn frames(stream: &[u8], step: usize) -> Outcome {
    let mut buf: Vec<u8> = Vec::new();
    let mut found = Vec::new();
    for chunk in stream.chunks(step) {
        buf.extend_from_slice(chunk);
        while !buf.is_empty() {
            match Message::frame(&buf) {
                Ok(Some(len)) => {
                    assert!(len > 0 && len <= buf.len(), "frame {len} outside {}", buf.len());
                    let _ = Message::parse(Bytes::copy_from_slice(&buf[..len]));
                    found.push(len);
                    buf.drain(..len);
                }
                Ok(None) if buf.len() > MESSAGE_BYTES_MAX => {
                    return (found, buf.len(), Some(ParseError::TooLarge.to_string()))
                }
                Ok(None) => break,
                Err(err) => return (found, buf.len(), Some(err.to_string())),
            }
        }
    }
    (found, buf.len(), None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    let whole = frames(stream, stream.len().max(1));
    let chunked = frames(stream, usize::from(step).max(1));
    assert_eq!(whole.0, chunked.0, "frames depend on the read size");
    assert_eq!(whole.2, chunked.2, "the stream's end depends on the read size");
    // Without an error, both runs wait on the same unfinished message.
    if whole.2.is_none() {
        assert_eq!(whole.1, chunked.1, "the leftover depends on the read size");
    }
});
