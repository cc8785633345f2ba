//! The client side of digest auth: answering a carrier's 401/407 on an
//! outbound leg (RFC 3261 §22.2, RFC 7616 §3.4).

use rand::RngCore;

use super::digest::{self, Algorithm, DigestInput, QopAuth};
use super::params::{self, quote, SchemeParams};
use super::AuthError;

/// Builds an Authorization (or Proxy-Authorization) value answering
/// `challenge`, a WWW-Authenticate / Proxy-Authenticate value; several values
/// may be joined with ", ". Picks SHA-256 over MD5 when both are offered
/// (RFC 8760 §2.4) and qop=auth when offered, else the RFC 2069 form.
/// `nc` counts the requests this client made with the challenge's nonce.
pub fn answer_challenge(
    challenge: &str,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    nc: u32,
    rng: &mut impl RngCore,
) -> Result<String, AuthError> {
    let list = params::parse(challenge)?;
    let mut best: Option<(Algorithm, bool, &SchemeParams<'_>)> = None;
    let mut error = AuthError::NotDigest;
    for c in list.iter().filter(|c| c.is_digest()) {
        let algorithm = match c.param("algorithm") {
            None => Algorithm::Md5,
            Some(a) => match Algorithm::parse(a) {
                Some(a) => a,
                None => {
                    if error == AuthError::NotDigest {
                        error = AuthError::UnsupportedAlgorithm;
                    }
                    continue;
                }
            },
        };
        let qop_auth = match c.param("qop") {
            None => false,
            Some(list)
                if list
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth")) =>
            {
                true
            }
            Some(_) => {
                error = AuthError::UnsupportedQop;
                continue;
            }
        };
        if best.is_none_or(|(b, _, _)| algorithm > b) {
            best = Some((algorithm, qop_auth, c));
        }
    }
    let (algorithm, qop_auth, c) = best.ok_or(error)?;
    let realm = c.require("realm")?;
    let nonce = c.require("nonce")?;
    let mut cnonce_bytes = [0u8; 8];
    rng.fill_bytes(&mut cnonce_bytes);
    let cnonce = digest::hex(&cnonce_bytes);
    let nc_text = format!("{nc:08x}");
    let qop = qop_auth.then_some(QopAuth {
        nc: &nc_text,
        cnonce: &cnonce,
    });
    let response = digest::request_digest(&DigestInput {
        algorithm,
        username,
        realm,
        password,
        method,
        uri,
        nonce,
        cnonce: Some(&cnonce),
        qop,
    })
    .expect("cnonce is always supplied");
    // RFC 7616 §3.4.4: with userhash the username travels hashed.
    let userhash = c
        .param("userhash")
        .is_some_and(|u| u.eq_ignore_ascii_case("true"));
    let shown_username = if userhash {
        algorithm.hash_hex(format!("{username}:{realm}").as_bytes())
    } else {
        username.to_owned()
    };
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response=\"{response}\", algorithm={}",
        quote(&shown_username),
        quote(realm),
        quote(nonce),
        quote(uri),
        algorithm.as_str(),
    );
    if qop.is_some() || matches!(algorithm, Algorithm::Md5Sess | Algorithm::Sha256Sess) {
        out.push_str(&format!(", cnonce=\"{cnonce}\""));
    }
    if qop.is_some() {
        out.push_str(&format!(", qop=auth, nc={nc_text}"));
    }
    if let Some(opaque) = c.param("opaque") {
        out.push_str(&format!(", opaque={}", quote(opaque)));
    }
    if userhash {
        out.push_str(", userhash=true");
    }
    Ok(out)
}
