//! `[switch]` escalation keys: the queue an escalated call joins (`*53`
//! or the API's escalate) must be one of `[[queues]]`; its priority is a
//! DID's range. The conference factory's user (desk phones' network
//! conference) is a plain URI user that names no agent.

use super::super::raw::RawSwitch;
use super::super::{ProblemKind, DID_PRIORITY_MAX};
use super::{root, Cx, Known};

impl Cx<'_, '_> {
    /// Takes the escalation keys out of `raw`; `None` when no queue is named.
    pub(super) fn escalation(
        &mut self,
        raw: &mut RawSwitch,
        known: &Known,
    ) -> Option<(String, u8)> {
        let p = root().key("switch");
        let max = i64::from(DID_PRIORITY_MAX);
        let priority = raw.escalation_priority.take();
        let priority = self.int(priority, &p.key("escalation_priority"), max as u32, 0, max);
        let queue = raw.escalation_queue.take()?;
        if !known.queues.contains(&queue) {
            let kind = ProblemKind::UnknownQueue {
                queue: queue.clone(),
            };
            self.report(&p.key("escalation_queue"), kind);
            return None;
        }
        Some((queue, u8::try_from(priority).unwrap_or(DID_PRIORITY_MAX)))
    }

    /// Takes `conference_factory` out of `raw`: 1 to 32 of `a-z A-Z 0-9
    /// - _ .`, no agent's id; `None` when unset or refused.
    pub(super) fn conference_factory(
        &mut self,
        raw: &mut RawSwitch,
        known: &Known,
    ) -> Option<String> {
        let user = raw.conference_factory.take()?;
        let plain = (1..=32).contains(&user.len())
            && user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !plain || known.agents.contains(&user) {
            let field = root().key("switch").key("conference_factory");
            let rule = if plain {
                "an agent's id: their calls would reach the factory"
            } else {
                "1 to 32 of a-z, A-Z, 0-9, '-', '_', '.'"
            };
            let kind = ProblemKind::InvalidName { value: user, rule };
            self.report(&field, kind);
            return None;
        }
        Some(user)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    const BASE: &str = "[[agents]]\nid = \"1001\"\npassword = \"p\"\nskills = { support = 5 }\n\
[[queues]]\nname = \"supervisors\"\nrequires = \"support:1\"\n";

    #[test]
    fn escalation_names_a_queue_and_defaults_to_the_top_priority() {
        let text = format!("[switch]\nescalation_queue = \"supervisors\"\n{BASE}");
        let c = Config::parse(&text, Path::new("s.toml")).unwrap();
        assert_eq!(c.switch.escalation, Some(("supervisors".into(), 9)));
        let c = Config::parse(BASE, Path::new("s.toml")).unwrap();
        assert_eq!(c.switch.escalation, None);
    }

    #[test]
    fn the_conference_factory_is_a_plain_user_that_names_no_agent() {
        let text = format!("[switch]\nconference_factory = \"conf\"\n{BASE}");
        let c = Config::parse(&text, Path::new("s.toml")).unwrap();
        assert_eq!(c.switch.conference_factory.as_deref(), Some("conf"));
        for bad in ["1001", "conf room", ""] {
            let text = format!("[switch]\nconference_factory = \"{bad}\"\n{BASE}");
            let err = Config::parse(&text, Path::new("s.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("switch.conference_factory"), "{err}");
        }
    }

    #[test]
    fn an_unknown_escalation_queue_or_priority_is_refused_by_field() {
        let text =
            format!("[switch]\nescalation_queue = \"nope\"\nescalation_priority = 12\n{BASE}");
        let err = Config::parse(&text, Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("switch.escalation_queue"), "{err}");
        assert!(err.contains("nope"), "{err}");
        assert!(err.contains("switch.escalation_priority"), "{err}");
    }
}
