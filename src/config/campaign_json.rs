//! A campaign given as JSON (the API's create, and what the store keeps of
//! one): checked by exactly the rules of a `[[campaigns]]` entry, by
//! writing it as one into a dialplan of its own in which the queue and the
//! trunk it names exist (whether they exist in the running switch is the
//! switch's own check). Its contacts are uploaded, not read from a file.

use std::path::Path;

use serde_json::{Map, Value};

use super::{CampaignConfig, Config, ConfigError};

/// The `contacts` of a campaign made through the API: none to read.
pub const API_CONTACTS: &str = "(uploaded)";

/// A key of the JSON and what is wrong with it (`""`: the whole body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonProblem {
    pub field: String,
    pub message: String,
}

impl JsonProblem {
    fn new(field: &str, message: impl Into<String>) -> JsonProblem {
        JsonProblem {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Reads a campaign from its JSON object; the first problem otherwise.
pub fn campaign_from_json(value: &Value) -> Result<CampaignConfig, JsonProblem> {
    let Value::Object(keys) = value else {
        return Err(JsonProblem::new("", "a JSON object is expected"));
    };
    if keys.contains_key("contacts") {
        let why = "contacts are uploaded: POST /api/v1/campaigns/{name}/contacts";
        return Err(JsonProblem::new("contacts", why));
    }
    let mut entry = String::from("[[campaigns]]\n");
    entry.push_str(&format!("contacts = {}\n", toml_string(API_CONTACTS)));
    for (key, value) in keys {
        if !is_bare_key(key) {
            return Err(JsonProblem::new(key, "not a campaign key"));
        }
        let value = toml_value(value, 0).ok_or_else(|| {
            JsonProblem::new(
                key,
                "a string, number, boolean or object of them is expected",
            )
        })?;
        entry.push_str(&format!("{key} = {value}\n"));
    }
    let text = format!("{}{entry}", stubs(keys));
    match Config::parse(&text, Path::new("api")) {
        Ok(mut config) => Ok(config.campaigns.remove(0)),
        Err(ConfigError::Invalid { problems }) => {
            let p = problems
                .first()
                .ok_or_else(|| JsonProblem::new("", "invalid"))?;
            let field = match p.field.as_str() {
                "queues[0].name" => "queue",
                "trunks[0].name" => "trunk",
                f => f.strip_prefix("campaigns[0].").unwrap_or(f),
            };
            Err(JsonProblem::new(field, p.kind.to_string()))
        }
        Err(other) => Err(JsonProblem::new("", other.to_string())),
    }
}

/// An agent, the queue and the trunk the entry names, so that only the
/// entry's own keys are judged here.
fn stubs(keys: &Map<String, Value>) -> String {
    let mut text = String::from(
        "[[agents]]\nid = \"stub\"\npassword = \"stub-password\"\nskills = { stub = 1 }\n",
    );
    if let Some(Value::String(queue)) = keys.get("queue") {
        text.push_str(&format!(
            "[[queues]]\nname = {}\nrequires = \"stub:1\"\n",
            toml_string(queue)
        ));
    }
    if let Some(Value::String(trunk)) = keys.get("trunk") {
        text.push_str(&format!(
            "[[trunks]]\nname = {}\noutbound = {{ address = \"127.0.0.1:5060\" }}\n",
            toml_string(trunk)
        ));
    }
    text
}

fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `value` in TOML: scalars, and objects of them one level deep (`retry`,
/// `amd`) as inline tables. `None` for anything else.
fn toml_value(value: &Value, depth: u8) -> Option<String> {
    Some(match value {
        Value::String(s) => toml_string(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => {
            let f = n.as_f64()?;
            // TOML floats need a fraction or an exponent.
            if f.fract() == 0.0 {
                format!("{f:.1}")
            } else {
                f.to_string()
            }
        }
        Value::Object(o) if depth == 0 => {
            let mut parts = Vec::with_capacity(o.len());
            for (k, v) in o {
                if !is_bare_key(k) {
                    return None;
                }
                parts.push(format!("{k} = {}", toml_value(v, depth + 1)?));
            }
            format!("{{ {} }}", parts.join(", "))
        }
        _ => return None,
    })
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::dialer::Mode;

    #[test]
    fn a_campaign_reads_from_json_as_from_the_dialplan() {
        let c = campaign_from_json(&json!({
            "name": "renewals", "queue": "sales", "trunk": "carrier", "mode": "predictive",
            "caller_id": "5550300", "max_attempts": 4, "max_abandon": 0.02,
            "retry": { "busy": "5m", "machine": "2h" }, "amd": { "machine": "message" },
            "autostart": false
        }))
        .unwrap();
        assert_eq!(
            (c.name.as_str(), c.queue.as_str(), c.trunk.as_str()),
            ("renewals", "sales", "carrier")
        );
        assert_eq!(
            (c.mode, c.max_attempts, c.max_abandon),
            (Mode::Predictive, 4, 0.02)
        );
        assert_eq!(c.retry.busy, Duration::from_secs(300));
        assert_eq!(c.retry.machine, Duration::from_secs(7200));
        assert!(c.amd.is_some());
        assert_eq!(c.contacts, Path::new(API_CONTACTS));
        // A whole-number cap is a TOML float too.
        let c =
            campaign_from_json(&json!({"name": "x", "queue": "q", "trunk": "t", "max_abandon": 1}));
        assert_eq!(c.unwrap().max_abandon, 1.0);
    }

    #[test]
    fn bad_json_names_its_key() {
        let base = json!({"name": "x", "queue": "sales", "trunk": "carrier"});
        let with = |key: &str, value: Value| {
            let mut v = base.clone();
            v[key] = value;
            campaign_from_json(&v).unwrap_err()
        };
        assert_eq!(with("mode", json!("psychic")).field, "mode");
        assert_eq!(with("ring_timeout", json!("10s")).field, "ring_timeout");
        assert_eq!(with("window", json!(9)).field, "window");
        assert_eq!(with("colour", json!("red")).field, "colour");
        assert_eq!(with("contacts", json!("a.csv")).field, "contacts");
        assert_eq!(with("retry", json!({"busy": [1]})).field, "retry");
        assert_eq!(with("queue", json!("bad name!")).field, "queue");
        assert_eq!(with("name", json!("a\"]\n[x")).field, "name");
        assert_eq!(campaign_from_json(&json!([1])).unwrap_err().field, "");
        let missing = campaign_from_json(&json!({"name": "x", "trunk": "t"})).unwrap_err();
        assert!(missing.message.contains("queue"), "{missing:?}");
    }
}
