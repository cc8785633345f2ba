//! Plain-text tables of the API's lists, for people at a terminal (the
//! `asterisk -rx "queue show"` habit): fixed columns, `-` for nothing.

use serde_json::Value;

/// `switchyard agents`.
pub fn agents_table(body: &Value) -> String {
    let rows = items(body, "agents").map(|a| {
        vec![
            text(&a["id"]),
            text(&a["name"]),
            text(&a["state"]),
            text(&a["pause_reason"]),
            seconds(&a["time_in_state_ms"]),
            if a["registered"] == true { "yes" } else { "no" }.to_string(),
            list(&a["queues"]),
            text(&a["calls_today"]),
            text(&a["call"]),
        ]
    });
    let head = [
        "AGENT", "NAME", "STATE", "REASON", "FOR", "PHONE", "QUEUES", "TODAY", "CALL",
    ];
    render(&head, rows)
}

/// `switchyard queues`.
pub fn queues_table(body: &Value) -> String {
    let rows = items(body, "queues").map(|q| {
        let level = q["service_level"]
            .as_f64()
            .map_or("-".to_string(), |v| format!("{:.0}%", v * 100.0));
        vec![
            text(&q["name"]),
            text(&q["waiting"]),
            seconds(&q["longest_wait_ms"]),
            text(&q["agents_available"]),
            text(&q["agents"]["paused"]),
            text(&q["answered"]),
            text(&q["abandoned"]),
            level,
            seconds(&q["expected_wait_ms"]),
        ]
    });
    let head = [
        "QUEUE",
        "WAITING",
        "LONGEST",
        "AVAILABLE",
        "PAUSED",
        "ANSWERED",
        "ABANDONED",
        "SERVICE",
        "EXP.WAIT",
    ];
    render(&head, rows)
}

/// `switchyard calls`.
pub fn calls_table(body: &Value) -> String {
    let rows = items(body, "calls").map(|c| {
        vec![
            text(&c["id"]),
            text(&c["phase"]),
            text(&c["dialled"]),
            text(&c["queue"]),
            text(&c["agent"]),
            seconds(&c["age_ms"]),
        ]
    });
    render(&["CALL", "PHASE", "DIALLED", "QUEUE", "AGENT", "AGE"], rows)
}

/// One line per event for `switchyard events`: id, type, then the JSON.
pub fn event_line(id: Option<u64>, data: &str) -> String {
    let kind = serde_json::from_str::<Value>(data)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_string))
        .unwrap_or_else(|| "-".into());
    let id = id.map_or("-".to_string(), |i| i.to_string());
    format!("{id:>6}  {kind:<16} {data}")
}

/// Milliseconds as whole seconds, `-` for none.
fn seconds(ms: &Value) -> String {
    ms.as_u64()
        .map_or("-".to_string(), |ms| format!("{}s", ms / 1000))
}

fn items<'v>(body: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    body[key].as_array().into_iter().flatten()
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn list(v: &Value) -> String {
    let names: Vec<String> = v.as_array().into_iter().flatten().map(text).collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join(",")
    }
}

fn render(head: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows.collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(head.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agents_line_up_under_their_headings() {
        let body = json!({ "agents": [
            { "id": "1001", "name": "Ada", "state": "paused", "pause_reason": "break",
              "time_in_state_ms": 65000, "registered": true, "queues": ["support"],
              "calls_today": 3, "call": null },
            { "id": "1002", "name": null, "state": "available", "pause_reason": null,
              "time_in_state_ms": null, "registered": false, "queues": [],
              "calls_today": 0, "call": null },
        ]});
        assert_eq!(
            agents_table(&body),
            "AGENT  NAME  STATE      REASON  FOR  PHONE  QUEUES   TODAY  CALL\n\
             1001   Ada   paused     break   65s  yes    support  3      -\n\
             1002   -     available  -       -    no     -        0      -\n"
        );
    }

    #[test]
    fn an_empty_list_is_just_the_heading() {
        assert_eq!(
            calls_table(&json!({ "calls": [] })),
            "CALL  PHASE  DIALLED  QUEUE  AGENT  AGE\n"
        );
    }
}
