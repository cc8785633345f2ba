//! The spill file: where a record goes when the database cannot take it now
//! (queue full, insert failed). Append-only JSON lines, fsynced per append.
//! The writer imports it back once its queue drains and the database takes
//! rows again; whatever is left, the next `CdrStore::open` imports and removes.
//!
//! The file has no record bound on purpose: it is the last resort before a
//! record is lost, so it is bounded only by the disk.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::{CdrError, StoreRow};

/// A spill line longer than this is not a record we wrote: it is skipped
/// without buffering it whole.
pub const SPILL_LINE_BYTES_MAX: usize = 64 * 1024;

/// `<cdr_path>.spill.jsonl`.
pub fn spill_path(cdr_path: &Path) -> PathBuf {
    with_suffix(cdr_path, ".spill.jsonl")
}

/// `<cdr_path>.spill.rejected.jsonl`: lines of a spill file that did not
/// parse (a torn last line after a crash), kept for an operator.
pub fn rejected_path(cdr_path: &Path) -> PathBuf {
    with_suffix(cdr_path, ".spill.rejected.jsonl")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// An append handle, opened on first use.
#[derive(Debug)]
pub struct Spill {
    path: PathBuf,
    file: Option<File>,
}

impl Spill {
    pub fn new(path: PathBuf) -> Spill {
        Spill { path, file: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Empties the file after its rows were committed elsewhere. Appends
    /// (O_APPEND) continue at the new end.
    pub fn truncate(&mut self) -> Result<(), CdrError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let err = |source| CdrError::Spill {
            path: self.path.clone(),
            source,
        };
        file.set_len(0).map_err(err)?;
        file.sync_all().map_err(err)
    }

    /// Removes the file if it is empty (all imported), so a clean stop
    /// leaves none behind.
    pub fn remove_if_empty(&mut self) -> Result<(), CdrError> {
        let empty = match fs::metadata(&self.path) {
            Ok(m) => m.len() == 0,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(CdrError::Spill {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        if !empty {
            return Ok(());
        }
        self.file = None;
        remove(&self.path)
    }

    /// Appends the rows and fsyncs before returning, so a spilled record
    /// survives a crash right after.
    pub fn append(&mut self, rows: &[StoreRow]) -> Result<(), CdrError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(rows.len() * 256);
        for row in rows {
            serde_json::to_writer(&mut buf, row)
                .expect("a StoreRow (strings and integers) always encodes as JSON");
            buf.push(b'\n');
        }
        let path = self.path.clone();
        let spill_err = |source| CdrError::Spill {
            path: path.clone(),
            source,
        };
        if self.file.is_none() {
            let file = append_durably(&self.path).map_err(spill_err)?;
            self.file = Some(file);
        }
        let file = self
            .file
            .as_mut()
            .expect("the spill file was opened just above");
        // One write of whole lines: O_APPEND keeps lines from two writers apart.
        file.write_all(&buf).map_err(spill_err)?;
        file.sync_data().map_err(spill_err)
    }
}

/// Opens for append, creating the file; a new file's directory entry is
/// fsynced too, or the file itself could vanish in a crash.
fn append_durably(path: &Path) -> io::Result<File> {
    let existed = path.exists();
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    if !existed {
        sync_dir(path)?;
    }
    Ok(file)
}

/// Fsyncs the directory that holds `path` (file creation and removal).
pub fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// What a spill file held.
#[derive(Debug, Default)]
pub struct SpillContents {
    pub rows: Vec<StoreRow>,
    /// Lines that did not parse, as read (lossy UTF-8), capped per line.
    pub rejected: Vec<String>,
}

/// Reads a spill file; `None` if there is none.
pub fn read(path: &Path) -> Result<Option<SpillContents>, CdrError> {
    let read_err = |source| CdrError::SpillRead {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    let mut reader = BufReader::new(file);
    let mut contents = SpillContents::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let limit = u64::try_from(SPILL_LINE_BYTES_MAX + 1).unwrap_or(u64::MAX);
        let n = (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .map_err(read_err)?;
        if n == 0 {
            break;
        }
        if line.len() > SPILL_LINE_BYTES_MAX && line.last() != Some(&b'\n') {
            // Too long: keep its head for the operator, skip to its end.
            skip_line(&mut reader).map_err(read_err)?;
            line.truncate(SPILL_LINE_BYTES_MAX);
            contents
                .rejected
                .push(String::from_utf8_lossy(&line).into_owned());
            continue;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<StoreRow>(text) {
            Ok(row) => contents.rows.push(row),
            Err(_) => contents
                .rejected
                .push(String::from_utf8_lossy(text).into_owned()),
        }
    }
    Ok(Some(contents))
}

fn skip_line(reader: &mut impl BufRead) -> io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = buf.iter().position(|b| *b == b'\n') {
            reader.consume(i + 1);
            return Ok(());
        }
        let n = buf.len();
        reader.consume(n);
    }
}

/// Appends unparsable spill lines to the rejected file, durably.
pub fn keep_rejected(path: &Path, lines: &[String]) -> Result<(), CdrError> {
    let err = |source| CdrError::Spill {
        path: path.to_owned(),
        source,
    };
    let mut file = append_durably(path).map_err(err)?;
    let mut buf = String::new();
    for line in lines {
        buf.push_str(line);
        buf.push('\n');
    }
    file.write_all(buf.as_bytes()).map_err(err)?;
    file.sync_data().map_err(err)
}

/// Removes an imported spill file and makes the removal durable.
pub fn remove(path: &Path) -> Result<(), CdrError> {
    let err = |source| CdrError::Spill {
        path: path.to_owned(),
        source,
    };
    fs::remove_file(path).map_err(err)?;
    sync_dir(path).map_err(err)
}
