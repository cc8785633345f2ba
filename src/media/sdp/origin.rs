//! Our `o=` line on one leg (RFC 4566 §5.2): a session id fixed for the
//! leg and a version that goes up by one whenever the SDP we send on the
//! leg changes, and only then (RFC 3264 §8: a re-sent or unchanged answer
//! keeps its version; a changed one must not).

use super::ORIGIN_USER;

/// The origin of the SDP we send on one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    session: u64,
    version: u64,
    /// The last SDP stamped, without its `o=` line.
    last: Option<String>,
}

impl Origin {
    /// A leg's origin; `session` comes from the core's RNG.
    pub fn new(session: u64) -> Origin {
        Origin {
            session,
            version: 1,
            last: None,
        }
    }

    /// The version of the last SDP stamped.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// `sdp` with its `o=` line replaced by ours, keeping the address it
    /// names (ours: the rewrite wrote it); the version is raised when
    /// anything else differs from the last SDP stamped on this leg.
    pub fn stamp(&mut self, sdp: &str) -> String {
        let mut address = "IN IP4 0.0.0.0";
        let mut rest = String::with_capacity(sdp.len());
        for line in sdp.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(o) = line.strip_prefix("o=") {
                // o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>
                let mut parts = o.splitn(4, ' ');
                if let Some(addr) = parts.nth(3) {
                    address = addr;
                }
                continue;
            }
            rest.push_str(line);
            rest.push_str("\r\n");
        }
        match &self.last {
            Some(last) if *last == rest => {}
            Some(_) => {
                self.version += 1;
                self.last = Some(rest.clone());
            }
            None => self.last = Some(rest.clone()),
        }
        let origin = format!(
            "o={ORIGIN_USER} {} {} {address}\r\n",
            self.session, self.version
        );
        match rest.strip_prefix("v=0\r\n") {
            Some(body) => format!("v=0\r\n{origin}{body}"),
            None => format!("{origin}{rest}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=agent 99 7 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\na=sendrecv\r\n";

    #[test]
    fn the_version_rises_on_every_change_and_only_then() {
        let mut o = Origin::new(4242);
        let first = o.stamp(SDP);
        assert!(
            first.starts_with("v=0\r\no=switchyard 4242 1 IN IP4 192.0.2.9\r\ns=-\r\n"),
            "{first}"
        );
        // Sent again unchanged (a 200 repeating a 183's answer, a refresh).
        assert_eq!(o.stamp(SDP), first);
        // Hold: the direction changes, so does the version.
        let held = o.stamp(&SDP.replace("sendrecv", "recvonly"));
        assert!(held.contains("o=switchyard 4242 2 "), "{held}");
        assert_eq!(o.version(), 2);
        // Resume: changed again, never back to an old number.
        let resumed = o.stamp(SDP);
        assert!(resumed.contains("o=switchyard 4242 3 "), "{resumed}");
        // Another party's o= line never decides ours.
        let other = SDP.replace("o=agent 99 7", "o=agent 100 8");
        assert!(o.stamp(&other).contains("o=switchyard 4242 3 "));
    }
}
