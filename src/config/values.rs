//! Parsers for the scalar values a config holds: durations, CIDRs, names,
//! DIDs. Each returns the [`ProblemKind`] to report, without position.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::error::ProblemKind;

/// Longest duration any setting takes; anything longer is a typo.
pub const DURATION_MAX: Duration = Duration::from_secs(24 * 3600);
/// Ids and names: agents, trunks, queues, skills, attributes.
pub const NAME_CHARS_MAX: usize = 64;
/// Digits in a DID (E.164 allows 15; leave room for internal prefixes).
pub const DID_DIGITS_MAX: usize = 20;

/// Parses `500ms`, `20s`, `5m`, `1h`: an integer and a unit, no spaces.
pub fn parse_duration(text: &str) -> Result<Duration, ProblemKind> {
    let invalid = || ProblemKind::InvalidDuration {
        value: text.to_owned(),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(invalid());
    }
    let too_long = || ProblemKind::DurationOutOfRange {
        value: text.to_owned(),
        range: "at most 24h",
    };
    let n: u64 = digits.parse().map_err(|_| too_long())?;
    let millis_per = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(invalid()),
    };
    let millis = n.checked_mul(millis_per).ok_or_else(too_long)?;
    let d = Duration::from_millis(millis);
    if d > DURATION_MAX {
        return Err(too_long());
    }
    Ok(d)
}

/// Shortest retention: anything less is more likely a typo than a policy.
pub const RETENTION_MIN: Duration = Duration::from_secs(3600);
/// Longest retention: a hundred years.
pub const RETENTION_MAX: Duration = Duration::from_secs(36_500 * 24 * 3600);

/// Parses a retention period: `12h`, `90d`, `8w` (an integer and a unit,
/// no spaces), from [`RETENTION_MIN`] to [`RETENTION_MAX`].
pub fn parse_retention(text: &str) -> Result<Duration, ProblemKind> {
    let invalid = || ProblemKind::InvalidRetention {
        value: text.to_owned(),
    };
    let out_of_range = || ProblemKind::DurationOutOfRange {
        value: text.to_owned(),
        range: "1h to 36500d",
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(invalid());
    }
    let secs_per: u64 = match unit {
        "h" => 3600,
        "d" => 24 * 3600,
        "w" => 7 * 24 * 3600,
        _ => return Err(invalid()),
    };
    let n: u64 = digits.parse().map_err(|_| out_of_range())?;
    let secs = n.checked_mul(secs_per).ok_or_else(out_of_range)?;
    let d = Duration::from_secs(secs);
    if !(RETENTION_MIN..=RETENTION_MAX).contains(&d) {
        return Err(out_of_range());
    }
    Ok(d)
}

pub fn parse_socket_addr(text: &str) -> Result<SocketAddr, ProblemKind> {
    text.parse().map_err(|_| ProblemKind::InvalidSocketAddr {
        value: text.to_owned(),
    })
}

/// An IP network: an address and a prefix length, host bits zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_v4(ip, self.prefix_len) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask_v6(ip, self.prefix_len) == u128::from(net),
            // An IPv4-mapped peer on a dual-stack socket is the IPv4 peer.
            (IpAddr::V4(_), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains(IpAddr::V4(v4))),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

fn mask_v4(ip: Ipv4Addr, prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        return 0;
    }
    u32::from(ip) & (u32::MAX << (32 - u32::from(prefix_len)))
}

fn mask_v6(ip: Ipv6Addr, prefix_len: u8) -> u128 {
    if prefix_len == 0 {
        return 0;
    }
    u128::from(ip) & (u128::MAX << (128 - u32::from(prefix_len)))
}

/// Parses `192.0.2.7`, `10.0.0.0/8`, `::1`, `2001:db8::/32`.
pub fn parse_ip_net(text: &str) -> Result<IpNet, ProblemKind> {
    let invalid = || ProblemKind::InvalidCidr {
        value: text.to_owned(),
    };
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
    let width = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = match prefix {
        None => width,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= width)
            .ok_or_else(invalid)?,
        Some(_) => return Err(invalid()),
    };
    let net = match addr {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(mask_v4(a, prefix_len))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(mask_v6(a, prefix_len))),
    };
    if net != addr {
        return Err(ProblemKind::CidrHostBits {
            value: text.to_owned(),
            suggested: format!("{net}/{prefix_len}"),
        });
    }
    Ok(IpNet { addr, prefix_len })
}

/// Agent ids: digits and letters only, since they are SIP user parts and
/// extensions.
pub fn check_agent_id(text: &str) -> Result<(), ProblemKind> {
    check_chars(text, |c| c.is_ascii_alphanumeric(), "letters and digits")
}

/// Queue, trunk, skill and attribute names: letters, digits, `_`, `-`, which
/// is what a `requires` expression and `overflow = "queue:x"` can spell.
pub fn check_name(text: &str) -> Result<(), ProblemKind> {
    check_chars(
        text,
        super::requires::is_name_char,
        "letters, digits, _ and -",
    )
}

fn check_chars(text: &str, ok: fn(char) -> bool, rule: &'static str) -> Result<(), ProblemKind> {
    if text.is_empty() {
        return Err(ProblemKind::Empty);
    }
    if text.chars().count() > NAME_CHARS_MAX || !text.chars().all(ok) {
        return Err(ProblemKind::InvalidName {
            value: text.to_owned(),
            rule,
        });
    }
    Ok(())
}

/// A DID is digits with an optional leading `+`.
pub fn check_did(text: &str) -> Result<(), ProblemKind> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty()
        || digits.len() > DID_DIGITS_MAX
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ProblemKind::InvalidDid {
            value: text.to_owned(),
            max: DID_DIGITS_MAX,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retentions_take_hours_days_weeks_within_bounds() {
        assert_eq!(parse_retention("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_retention("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_retention("2w"), Ok(Duration::from_secs(14 * 86_400)));
        for bad in ["", "90", "d", "90 d", "90s", "5m", "-1d", "1.5d"] {
            assert!(
                matches!(
                    parse_retention(bad),
                    Err(ProblemKind::InvalidRetention { .. })
                ),
                "{bad:?}"
            );
        }
        for far in [
            "0d",
            "0h",
            "36501d",
            "99999999999999999999d",
            "9999999999999999w",
        ] {
            assert!(
                matches!(
                    parse_retention(far),
                    Err(ProblemKind::DurationOutOfRange { .. })
                ),
                "{far:?}"
            );
        }
    }

    #[test]
    fn durations_take_ms_s_m_h() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn durations_without_unit_or_with_spaces_are_refused() {
        for bad in [
            "20",
            "s",
            "",
            "20 s",
            "-5s",
            "1.5s",
            "20 parsecs",
            "5M",
            "1d",
        ] {
            assert_eq!(
                parse_duration(bad),
                Err(ProblemKind::InvalidDuration { value: bad.into() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn durations_beyond_a_day_or_u64_are_out_of_range() {
        for bad in ["25h", "99999999999999999999999s", "18446744073709551615h"] {
            assert!(
                matches!(
                    parse_duration(bad),
                    Err(ProblemKind::DurationOutOfRange { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn cidrs_parse_v4_v6_and_plain_addresses() {
        let net = parse_ip_net("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.9.9.9".parse().unwrap()));
        let host = parse_ip_net("127.0.0.1").unwrap();
        assert_eq!(host.prefix_len, 32);
        assert!(host.contains("127.0.0.1".parse().unwrap()));
        assert!(!host.contains("127.0.0.2".parse().unwrap()));
        let v6 = parse_ip_net("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::".parse().unwrap()));
        let all = parse_ip_net("0.0.0.0/0").unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn cidrs_with_host_bits_or_bad_prefix_are_refused() {
        assert_eq!(
            parse_ip_net("10.0.0.1/8"),
            Err(ProblemKind::CidrHostBits {
                value: "10.0.0.1/8".into(),
                suggested: "10.0.0.0/8".into()
            })
        );
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/x",
            "localhost",
            "10.0.0/8",
        ] {
            assert_eq!(
                parse_ip_net(bad),
                Err(ProblemKind::InvalidCidr { value: bad.into() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn dids_are_digits_with_optional_plus() {
        assert!(check_did("5550100").is_ok());
        assert!(check_did("+4930123456").is_ok());
        for bad in [
            "",
            "+",
            "555-0100",
            "++1",
            "1+2",
            "abc",
            "123456789012345678901",
        ] {
            assert!(check_did(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_refuse_empty_and_punctuation() {
        assert_eq!(check_agent_id(""), Err(ProblemKind::Empty));
        assert!(check_agent_id("1001").is_ok());
        assert!(check_agent_id("ada-1").is_err());
        assert!(check_name("tier-2_support").is_ok());
        assert!(check_name("a b").is_err());
        assert!(check_name(&"x".repeat(NAME_CHARS_MAX + 1)).is_err());
    }
}
