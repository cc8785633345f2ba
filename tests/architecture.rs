//! The shape of the crate, checked from its source (STYLE.md "Layout",
//! issue 9 "Must show"):
//!
//! - the pure cores (`sip` but `sip/transport`, `call`, `acd`, `media` but
//!   `media/relay`) import nothing from `switch`, `ops`, `run` or
//!   `media::relay`;
//! - the relay (`media/relay`) imports nothing from `acd`: it names a call
//!   by the switch's own `call::CallRef`, in the words of the pure
//!   `media/command.rs` that the core speaks too;
//! - the switch (`switch`) imports nothing from the relay: it tells the
//!   relay what to do in the words of `media/command.rs`, and the driver
//!   forwards them;
//! - no file in `src/` is over [`LINES_MAX`] lines, tests files excepted.
//!
//! What today's code still breaks is listed below as named exceptions, each
//! with why; the lists show what is left to do and may only shrink. An entry
//! that no longer matches anything is reported (run with `--nocapture`) and
//! should be deleted.
//!
//! The scan reads paths that start with `crate::`, `super::` or `self::`
//! (in `use` lines and in code, `{…}` groups expanded), comments stripped.
//! `super::` is resolved from the file's module, so inside an inline
//! `mod tests` it names one level too high: tests only make the check
//! laxer, never stricter.

use std::fs;
use std::path::{Path, PathBuf};

/// Longest a source file may be (STYLE.md: "a few hundred lines").
const LINES_MAX: usize = 700;

/// Modules of the crate a pure core must not reach.
const DRIVERS: &[&str] = &["switch", "ops", "run", "media::relay"];

/// A known break of an import rule: a file, the path it imports, and why it
/// is still there.
struct ImportException {
    file: &'static str,
    path: &'static str,
    why: &'static str,
}

/// The relay breaks no rule today.
const RELAY_IMPORTS_FROM_ACD: &[ImportException] = &[];

/// The pure cores break no rule today.
const CORE_IMPORTS_FROM_DRIVERS: &[ImportException] = &[];

/// The switch breaks no rule today (`LEGS_PER_CALL_MAX` moved to
/// `media/command.rs`).
const SWITCH_IMPORTS_FROM_RELAY: &[ImportException] = &[];

/// A file over [`LINES_MAX`] allowed to stay at most `lines` long until it
/// is split.
struct LengthException {
    file: &'static str,
    lines: usize,
    why: &'static str,
}

/// None today: `src/config/validate.rs` was split per section.
const LONG_FILES: &[LengthException] = &[];

#[test]
fn pure_cores_import_nothing_from_switch_ops_run_or_the_relay() {
    let forbidden: Vec<Vec<&str>> = DRIVERS.iter().map(|d| d.split("::").collect()).collect();
    let broken = check_imports(is_pure_core, &forbidden, CORE_IMPORTS_FROM_DRIVERS);
    assert!(
        broken.is_empty(),
        "pure cores reach drivers (STYLE.md \"Pure cores, thin drivers\"):\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_relay_imports_nothing_from_acd() {
    let forbidden = vec![vec!["acd"]];
    let broken = check_imports(
        |file| file.starts_with("src/media/relay/"),
        &forbidden,
        RELAY_IMPORTS_FROM_ACD,
    );
    assert!(
        broken.is_empty(),
        "the relay reaches the router (issue 9 item 5):\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_switch_imports_nothing_from_the_relay() {
    let forbidden = vec![vec!["media", "relay"]];
    let broken = check_imports(
        |file| file.starts_with("src/switch/"),
        &forbidden,
        SWITCH_IMPORTS_FROM_RELAY,
    );
    assert!(
        broken.is_empty(),
        "the switch reaches the relay; speak media/command.rs instead:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_source_file_is_over_700_lines_but_tests() {
    let mut broken = Vec::new();
    for (file, text) in sources() {
        if is_tests_file(&file) {
            continue;
        }
        let lines = text.lines().count();
        match LONG_FILES.iter().find(|e| e.file == file) {
            Some(e) if lines > e.lines => broken.push(format!(
                "{file}: {lines} lines, over its ceiling of {} ({}): split it, don't raise it",
                e.lines, e.why
            )),
            Some(_) => {}
            None if lines > LINES_MAX => broken.push(format!(
                "{file}: {lines} lines, over {LINES_MAX}: split it by role, or move its tests to a sibling tests.rs"
            )),
            None => {}
        }
    }
    for e in LONG_FILES {
        let lines = fs::read_to_string(root().join(e.file)).map(|t| t.lines().count());
        match lines {
            Ok(n) if n > LINES_MAX => {}
            _ => eprintln!(
                "LONG_FILES: {} is gone or short now: delete its entry",
                e.file
            ),
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_scanner_expands_groups_and_resolves_super() {
    let code = "use crate::media::{relay::Relay, sdp};\n\
                // use crate::switch::Switch;\n\
                use super::super::super::ops::metrics;\n\
                fn f() { let _ = self::x::y(); crate::acd::CallId(1); }\n";
    let paths = imported_paths("src/media/sdp/parse.rs", code);
    assert_eq!(
        paths,
        vec![
            "media::relay::Relay",
            "media::sdp",
            "ops::metrics",
            "media::sdp::parse::x::y",
            "acd::CallId",
        ]
    );
    assert_eq!(
        imported_paths("src/media/mod.rs", "use super::run;"),
        vec!["run"]
    );
    assert!(is_pure_core("src/sip/dialog.rs"));
    assert!(!is_pure_core("src/sip/transport/udp.rs"));
    assert!(is_pure_core("src/media/sdp.rs"));
    assert!(is_pure_core("src/media/command.rs"));
    assert!(!is_pure_core("src/media/relay/call.rs"));
    assert!(is_tests_file("src/acd/tests_presence.rs"));
    assert!(is_tests_file("src/switch/control_tests.rs"));
    assert!(!is_tests_file("src/switch/timers.rs"));
}

/// Files whose imports break `forbidden`, less the exceptions; stale
/// exceptions are reported.
fn check_imports(
    applies: impl Fn(&str) -> bool,
    forbidden: &[Vec<&str>],
    exceptions: &[ImportException],
) -> Vec<String> {
    let mut broken = Vec::new();
    let mut used = vec![false; exceptions.len()];
    for (file, text) in sources() {
        if !applies(&file) {
            continue;
        }
        for path in imported_paths(&file, &text) {
            let segments: Vec<&str> = path.split("::").collect();
            if !forbidden.iter().any(|f| segments.starts_with(f)) {
                continue;
            }
            let known = exceptions.iter().position(|e| {
                e.file == file && segments.starts_with(&e.path.split("::").collect::<Vec<_>>())
            });
            match known {
                Some(i) => used[i] = true,
                None => broken.push(format!("{file}: imports crate::{path}")),
            }
        }
    }
    for (e, used) in exceptions.iter().zip(used) {
        if !used {
            eprintln!(
                "exception no longer needed, delete it: {} crate::{} ({})",
                e.file, e.path, e.why
            );
        }
    }
    broken
}

fn is_pure_core(file: &str) -> bool {
    (file.starts_with("src/sip/") && !file.starts_with("src/sip/transport/"))
        || file.starts_with("src/dialer/")
        || file.starts_with("src/call/")
        || file.starts_with("src/acd/")
        || (file.starts_with("src/media/") && !file.starts_with("src/media/relay/"))
}

fn is_tests_file(file: &str) -> bool {
    let name = file.rsplit('/').next().unwrap_or(file);
    name == "tests.rs" || name.starts_with("tests_") || name.ends_with("_tests.rs")
}

/// Every crate path `file` names, resolved from the crate root and written
/// without `crate::`.
fn imported_paths(file: &str, text: &str) -> Vec<String> {
    let module = module_of(file);
    let code: String = text
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    let mut paths = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':';
        let root = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|r| starts_word && bytes[i..].starts_with(r.as_bytes()));
        let Some(_) = root else {
            i += 1;
            continue;
        };
        let (tree, end) = parse_tree(&code, i);
        for p in tree {
            if let Some(resolved) = resolve(&module, &p) {
                paths.push(resolved.join("::"));
            }
        }
        i = end.max(i + 1);
    }
    paths
}

/// The path tree at `at` (`a::b::{c, d::e}`) as flat paths, and where it ends.
fn parse_tree(code: &str, mut at: usize) -> (Vec<Vec<String>>, usize) {
    let bytes = code.as_bytes();
    let mut prefix = Vec::new();
    loop {
        let start = at;
        while at < bytes.len() && is_ident(bytes[at]) {
            at += 1;
        }
        if at > start {
            prefix.push(code[start..at].to_string());
        }
        if bytes[at..].starts_with(b"::{") {
            at += 3;
            let mut out = Vec::new();
            loop {
                while at < bytes.len() && (bytes[at].is_ascii_whitespace() || bytes[at] == b',') {
                    at += 1;
                }
                if at >= bytes.len() || bytes[at] == b'}' {
                    return (out, at + 1);
                }
                let (inner, end) = parse_tree(code, at);
                for p in inner {
                    let mut full = prefix.clone();
                    full.extend(p);
                    out.push(full);
                }
                at = end;
                // Skip `as name` and anything else up to the next item.
                while at < bytes.len() && bytes[at] != b',' && bytes[at] != b'}' {
                    at += 1;
                }
            }
        }
        if bytes[at..].starts_with(b"::") {
            at += 2;
            continue;
        }
        return (vec![prefix], at);
    }
}

/// A path from the crate root, or `None` for one that leaves the crate.
fn resolve(module: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut segments = path.iter().peekable();
    let mut base: Vec<String> = match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        Some("self") => {
            segments.next();
            module.to_vec()
        }
        _ => module.to_vec(),
    };
    while segments.peek().map(|s| s.as_str()) == Some("super") {
        segments.next();
        base.pop()?;
    }
    base.extend(
        segments
            .filter(|s| s.as_str() != "self" && s.as_str() != "*")
            .cloned(),
    );
    Some(base)
}

/// `src/media/relay/mod.rs` is `media::relay`; `src/media/sdp.rs` is `media::sdp`.
fn module_of(file: &str) -> Vec<String> {
    let path = file.trim_start_matches("src/").trim_end_matches(".rs");
    let mut segments: Vec<String> = path.split('/').map(str::to_string).collect();
    if matches!(
        segments.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        segments.pop();
    }
    segments
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, as (`src/…` with `/`, text), in path order.
fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    collect(&root().join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).expect("a source file is readable UTF-8");
            let rel = path.strip_prefix(root()).expect("under the crate root");
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            (rel, text)
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}
