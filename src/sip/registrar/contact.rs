//! Contact URI comparison (RFC 3261 §19.1.4) and q-values (§20.10), on the
//! text as written, without the SIP parser.

/// What two contact URIs must agree on to be the same binding: scheme and
/// host in any case, user info exactly, the port as written (no default-port
/// equivalence, §19.1.4), and the URI parameters that must match when present
/// (`transport`, `user`, `ttl`, `method`, `maddr`). Other parameters and
/// headers are ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ContactKey {
    scheme: String,
    userinfo: String,
    hostport: String,
    params: Vec<(String, String)>,
}

impl ContactKey {
    /// `None` when the text is not a `scheme:rest` URI.
    pub(super) fn parse(uri: &str) -> Option<ContactKey> {
        let uri = uri.trim();
        let uri = match uri.strip_prefix('<') {
            Some(inner) => inner.strip_suffix('>')?,
            None => uri,
        };
        let (scheme, rest) = uri.split_once(':')?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_ok {
            return None;
        }
        let rest = rest.split('?').next().unwrap_or_default();
        let mut parts = rest.split(';');
        let addr = parts.next().unwrap_or_default();
        let (userinfo, hostport) = match addr.rsplit_once('@') {
            Some((u, h)) => (u, h),
            None => ("", addr),
        };
        if hostport.is_empty() || hostport.contains(char::is_whitespace) {
            return None;
        }
        let mut params: Vec<(String, String)> = parts
            .filter_map(|p| {
                let (name, value) = p.split_once('=').unwrap_or((p, ""));
                let name = name.trim().to_ascii_lowercase();
                ["transport", "user", "ttl", "method", "maddr"]
                    .contains(&name.as_str())
                    .then(|| (name, value.trim().to_ascii_lowercase()))
            })
            .collect();
        params.sort();
        Some(ContactKey {
            scheme: scheme.to_ascii_lowercase(),
            userinfo: userinfo.to_owned(),
            hostport: hostport.to_ascii_lowercase(),
            params,
        })
    }
}

/// A q-value in thousandths: `qvalue = ("0" ["." 0*3DIGIT]) / ("1" ["." 0*3("0")])`.
pub(super) fn parse_q(q: &str) -> Option<u16> {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_uri_differs_only_in_case_of_scheme_host_and_ignored_params() {
        let a = ContactKey::parse("sip:alice@Desk.Example.com:5060;transport=UDP;ob");
        let b = ContactKey::parse("<SIP:alice@desk.example.com:5060;lr;transport=udp>");
        assert!(a.is_some());
        assert_eq!(a, b);
    }

    #[test]
    fn user_port_and_transport_distinguish_uris() {
        let base = ContactKey::parse("sip:alice@10.0.0.1:5060");
        assert_ne!(base, ContactKey::parse("sip:Alice@10.0.0.1:5060"));
        assert_ne!(base, ContactKey::parse("sip:alice@10.0.0.1"));
        assert_ne!(
            base,
            ContactKey::parse("sip:alice@10.0.0.1:5060;transport=tcp")
        );
        assert_ne!(base, ContactKey::parse("sips:alice@10.0.0.1:5060"));
    }

    #[test]
    fn garbage_is_not_a_contact() {
        for bad in [
            "",
            "alice",
            "<sip:alice@h",
            "sip:",
            "sip:alice@",
            "1sip:a@h",
            "sip:a@h h",
        ] {
            assert_eq!(ContactKey::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn q_values_parse_to_thousandths() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.125"), Some(125));
        assert_eq!(parse_q("0"), Some(0));
        for bad in ["1.5", "2", "0.1234", "-0.1", "", ".5", "0.a", "１"] {
            assert_eq!(parse_q(bad), None, "{bad:?}");
        }
    }
}
