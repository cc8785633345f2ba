//! What the API adds to the core's listings, from other listings and the
//! event-derived [`AgentBoard`]: an agent's name, time in state and calls
//! today; a queue's waiting callers, longest wait and agents by state.

#![allow(clippy::disallowed_methods)] // a driver: time in state needs the wall clock

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::ops::board::AgentBoard;
use crate::switch::AGENT_STATE_LABELS;

/// Adds `name`, `time_in_state_ms` (null until a change was seen) and
/// `calls_today` to each agent of a `list_agents` reply.
pub fn agents(agents: &mut Value, board: &AgentBoard, names: &HashMap<String, String>) {
    let now = now_unix_ms();
    for agent in agents.as_array_mut().into_iter().flatten() {
        let id = agent["id"].as_str().unwrap_or("").to_string();
        let facts = board.facts(&id);
        agent["name"] = json!(names.get(&id));
        agent["time_in_state_ms"] = json!(facts.state_since_unix_ms.map(|t| now.saturating_sub(t)));
        agent["calls_today"] = json!(facts.calls_today(now));
    }
}

/// Adds `callers` (each `call`, `waited_ms` since it entered the queue and
/// whether an agent's phone rings for it; longest first), `longest_wait_ms`
/// and `agents` (members by state) to each queue. A caller an agent is
/// being offered is still waiting: a board loaded then must show it.
pub fn queues(queues: &mut Value, agents: &Value, calls: &Value) {
    for queue in queues.as_array_mut().into_iter().flatten() {
        let name = queue["name"].clone();
        let mut callers: Vec<(u64, Value, bool)> = calls
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["queue"] == name && (c["phase"] == "queued" || c["phase"] == "ringing"))
            .map(|c| {
                let waited = c["queue_wait_ms"].as_u64().or(c["age_ms"].as_u64());
                (
                    waited.unwrap_or(0),
                    c["id"].clone(),
                    c["phase"] == "ringing",
                )
            })
            .collect();
        callers.sort_by_key(|c| std::cmp::Reverse(c.0));
        let mut by_state: BTreeMap<&str, u64> =
            AGENT_STATE_LABELS.iter().map(|s| (*s, 0)).collect();
        let members = agents
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["queues"].as_array().is_some_and(|qs| qs.contains(&name)));
        for agent in members {
            if let Some(count) = agent["state"].as_str().and_then(|s| by_state.get_mut(s)) {
                *count += 1;
            }
        }
        queue["longest_wait_ms"] = json!(callers.first().map(|c| c.0));
        queue["callers"] = callers
            .into_iter()
            .map(|(waited, call, ringing)| {
                json!({ "call": call, "waited_ms": waited, "ringing": ringing })
            })
            .collect();
        queue["agents"] = json!(by_state);
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_get_their_callers_longest_first_and_members_by_state() {
        let mut qs = json!([{ "name": "support" }, { "name": "sales" }]);
        let agents = json!([
            { "id": "1001", "state": "paused", "queues": ["support"] },
            { "id": "1002", "state": "available", "queues": ["support", "sales"] },
        ]);
        let calls = json!([
            { "id": "a", "phase": "queued", "queue": "support", "age_ms": 500, "queue_wait_ms": 400 },
            { "id": "b", "phase": "ringing", "queue": "support", "age_ms": 9000, "queue_wait_ms": 7000 },
            { "id": "c", "phase": "talking", "queue": "support", "age_ms": 20000, "queue_wait_ms": null },
            { "id": "d", "phase": "ringing", "queue": null, "age_ms": 100, "queue_wait_ms": null },
        ]);
        queues(&mut qs, &agents, &calls);
        let support = &qs[0];
        assert_eq!(support["longest_wait_ms"], 7000);
        assert_eq!(
            support["callers"],
            json!([
                { "call": "b", "waited_ms": 7000, "ringing": true },
                { "call": "a", "waited_ms": 400, "ringing": false },
            ])
        );
        assert_eq!(support["agents"]["paused"], 1);
        assert_eq!(support["agents"]["available"], 1);
        assert_eq!(qs[1]["longest_wait_ms"], Value::Null);
        assert_eq!(qs[1]["agents"]["available"], 1);
        assert_eq!(qs[1]["agents"]["paused"], 0);
    }

    #[test]
    fn agents_get_a_name_and_null_time_in_state_before_any_change() {
        let mut list = json!([{ "id": "1001" }]);
        let names = HashMap::from([("1001".to_string(), "Ada".to_string())]);
        agents(&mut list, &AgentBoard::default(), &names);
        assert_eq!(list[0]["name"], "Ada");
        assert_eq!(list[0]["time_in_state_ms"], Value::Null);
        assert_eq!(list[0]["calls_today"], 0);
    }
}
