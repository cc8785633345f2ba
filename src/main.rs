//! The `switchyard` command: `run` starts the switch, `check` validates a
//! dialplan, and the API client commands (`agents`, `agent`, `queues`,
//! `calls`, `call`, `hangup`, `events`, `reload`) talk to a running switch through
//! `switchyard::ops::client`. Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchyard::config::Config;
use switchyard::ops::client::cli::{self, Action, CliError};
use switchyard::ops::client::{Client, DEFAULT_API};
use switchyard::ops::logfmt::{self, LogFormat};

// jemalloc: less CPU per call than glibc's malloc and less memory per call
// (Cargo.toml says by how much).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The default dialplan, relative to the working directory.
const DEFAULT_CONFIG: &str = "dialplans/default.toml";

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "A SIP/RTP telephony switch with automatic call distribution"
)]
struct Cli {
    /// The switch's HTTP API (default: $SWITCHYARD_API, else http://127.0.0.1:8080).
    #[arg(long, global = true)]
    api: Option<String>,
    /// Bearer token for the API (default: $SWITCHYARD_TOKEN).
    #[arg(long, global = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(arg: LogFormatArg) -> LogFormat {
        match arg {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Start the switch.
    Run {
        /// The dialplan to load.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// `text` for people, `json` for one JSON object per line.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormatArg,
    },
    /// Validate a dialplan and exit: 0 when it is good, 1 with file, line and field when not.
    Check { path: PathBuf },
    /// List the agents of a running switch.
    Agents,
    /// Show an agent or act on one: show, login [queue], logout [queue],
    /// pause [reason], resume, wrapup-end.
    Agent {
        id: String,
        #[arg(default_value = "show")]
        verb: String,
        arg: Option<String>,
    },
    /// List the queues.
    Queues,
    /// List the calls in progress.
    Calls,
    /// Originate: ring the agent's phone, then dial the number through the trunk.
    Call { agent: String, number: String },
    /// Hang up a call by its id.
    Hangup { call: String },
    /// Follow the event stream (one line per event).
    Events {
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
        /// Resume after this event id.
        #[arg(long)]
        last_id: Option<u64>,
    },
    /// Reload the dialplan of a running switch.
    Reload,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { path } => match Config::load(&path) {
            Ok(config) => match config.check_listen_safety() {
                Ok(()) => {
                    println!("{}: ok", path.display());
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("{err}");
                    ExitCode::FAILURE
                }
            },
            Err(err) => {
                eprintln!("{err}");
                ExitCode::FAILURE
            }
        },
        Command::Run { config, log_format } => run(config, log_format.into()),
        Command::Agents => client(cli.api, cli.token, Action::Agents),
        Command::Agent { id, verb, arg } => {
            client(cli.api, cli.token, Action::Agent { id, verb, arg })
        }
        Command::Queues => client(cli.api, cli.token, Action::Queues),
        Command::Calls => client(cli.api, cli.token, Action::Calls),
        Command::Call { agent, number } => {
            client(cli.api, cli.token, Action::Call { agent, number })
        }
        Command::Hangup { call } => client(cli.api, cli.token, Action::Hangup { call }),
        Command::Events { count, last_id } => {
            client(cli.api, cli.token, Action::Events { count, last_id })
        }
        Command::Reload => client(cli.api, cli.token, Action::Reload),
    }
}

/// One API client command; flags win over the environment.
fn client(api: Option<String>, token: Option<String>, action: Action) -> ExitCode {
    let api = api
        .or_else(|| std::env::var("SWITCHYARD_API").ok())
        .unwrap_or_else(|| DEFAULT_API.to_string());
    let token = token.or_else(|| std::env::var("SWITCHYARD_TOKEN").ok());
    let result = Client::new(&api, token)
        .map_err(CliError::from)
        .and_then(|c| cli::run(&c, action, &mut std::io::stdout().lock()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("switchyard: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: PathBuf, log_format: LogFormat) -> ExitCode {
    logfmt::init(log_format);
    let config = match Config::load(&path).and_then(|c| c.check_listen_safety().map(|()| c)) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(switchyard::run::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("switchyard: {err}");
            ExitCode::FAILURE
        }
    }
}
