//! What `switchyard agents|agent|queues|calls|call|events|reload` do: one API
//! request (or the event stream), printed for a person. `main.rs` only
//! parses the arguments.

use std::io::Write;

use serde_json::{json, Value};

use super::{agents_table, calls_table, event_line, queues_table, Client, ClientError, Response};

/// One client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Agents,
    /// `verb`: show, login, logout, pause, resume, wrapup-end; `arg` is the
    /// queue (login, logout) or the reason (pause).
    Agent {
        id: String,
        verb: String,
        arg: Option<String>,
    },
    Queues,
    Calls,
    /// Originate: ring `agent`, then dial `number`.
    Call {
        agent: String,
        number: String,
    },
    Hangup {
        call: String,
    },
    /// Follows the stream; stops after `count` events when given.
    Events {
        count: Option<u64>,
        last_id: Option<u64>,
    },
    Reload,
}

/// Agent verbs, for the usage message.
pub const AGENT_VERBS: &str =
    "show, login [queue], logout [queue], pause [reason], resume, wrapup-end";
/// The pause reason when none is given.
pub const DEFAULT_PAUSE_REASON: &str = "break";

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unknown agent action {0:?}; use one of: {AGENT_VERBS}")]
    Usage(String),
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("the switch answered something that is not JSON")]
    NotJson,
}

/// Carries out `action`, printing to `out`.
pub fn run(client: &Client, action: Action, out: &mut dyn Write) -> Result<(), CliError> {
    match action {
        Action::Agents => {
            let body = get(client, "/api/v1/agents")?;
            out.write_all(agents_table(&body).as_bytes())?;
        }
        Action::Agent { id, verb, arg } => agent(client, &id, &verb, arg, out)?,
        Action::Queues => {
            let body = get(client, "/api/v1/queues")?;
            out.write_all(queues_table(&body).as_bytes())?;
        }
        Action::Calls => {
            let body = get(client, "/api/v1/calls")?;
            out.write_all(calls_table(&body).as_bytes())?;
        }
        Action::Call { agent, number } => {
            let body = json!({ "agent": agent, "number": number });
            let reply = send(client, "POST", "/api/v1/calls", Some(&body))?;
            let call = reply["call"].as_str().ok_or(CliError::NotJson)?;
            writeln!(out, "call {call} placed: {agent}'s phone rings")?;
        }
        Action::Hangup { call } => {
            send(
                client,
                "POST",
                &format!("/api/v1/calls/{call}/hangup"),
                None,
            )?;
            writeln!(out, "call {call} hung up")?;
        }
        Action::Events { count, last_id } => events(client, count, last_id, out)?,
        Action::Reload => {
            let body = send(client, "POST", "/api/v1/reload", None)?;
            out.write_all(reload_summary(&body).as_bytes())?;
        }
    }
    Ok(())
}

fn agent(
    client: &Client,
    id: &str,
    verb: &str,
    arg: Option<String>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let path = format!("/api/v1/agents/{id}");
    let body = match (verb, arg) {
        ("show", _) => None,
        ("login" | "logout", Some(queue)) => Some(json!({ "queue": queue })),
        ("login" | "logout" | "resume" | "wrapup-end", _) => Some(json!({})),
        ("pause", reason) => Some(json!({
            "reason": reason.unwrap_or_else(|| DEFAULT_PAUSE_REASON.into())
        })),
        (other, _) => return Err(CliError::Usage(other.to_string())),
    };
    if let Some(body) = body {
        let verb = if verb == "wrapup-end" {
            "wrapup/end"
        } else {
            verb
        };
        send(client, "POST", &format!("{path}/{verb}"), Some(&body))?;
    }
    let now = get(client, &path)?;
    out.write_all(agents_table(&json!({ "agents": [now] })).as_bytes())?;
    Ok(())
}

fn events(
    client: &Client,
    count: Option<u64>,
    last_id: Option<u64>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut stream = client.events(last_id)?.map_err(refused)?;
    let mut printed = 0;
    while count.is_none_or(|c| printed < c) {
        let Some(event) = stream.next_event()? else {
            break;
        };
        writeln!(out, "{}", event_line(event.id, &event.data))?;
        out.flush()?;
        printed += 1;
    }
    Ok(())
}

fn get(client: &Client, path: &str) -> Result<Value, CliError> {
    send(client, "GET", path, None)
}

fn send(
    client: &Client,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, CliError> {
    let text = body.map(Value::to_string);
    let response = client.request(method, path, text.as_deref())?;
    if !(200..300).contains(&response.status) {
        return Err(refused(response));
    }
    serde_json::from_str(&response.body).map_err(|_| CliError::NotJson)
}

fn refused(response: Response) -> CliError {
    let body: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
    CliError::Refused {
        status: response.status,
        code: body["error"].as_str().unwrap_or("error").to_string(),
        message: body["message"]
            .as_str()
            .unwrap_or(response.body.trim())
            .to_string(),
    }
}

/// What a reload changed, a line per kind of change, e.g.
/// `agents added: 1005`.
fn reload_summary(body: &Value) -> String {
    let file = body["file"].as_str().unwrap_or("the dialplan");
    let mut text = format!("reloaded {file}\n");
    for (key, label) in [
        ("agents_added", "agents added"),
        (
            "agents_removed",
            "agents removed (logged out after their call)",
        ),
        ("agents_changed", "agents changed"),
        ("queues_added", "queues added"),
        ("queues_removed", "queues removed (after their callers)"),
        ("queues_changed", "queues changed"),
        ("restart_required", "needs a restart to change"),
    ] {
        let names: Vec<&str> = body[key]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !names.is_empty() {
            text.push_str(&format!("{label}: {}\n", names.join(", ")));
        }
    }
    text
}
