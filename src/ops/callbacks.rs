//! Queued callbacks in SQLite, beside the call records (the same file as
//! `[switch].cdr_path`, a table of its own created if absent): a callback
//! not yet done is served after a restart, in its place in line. The
//! switch hands out [`crate::switch::CallbackStore`] changes; the driver
//! writes them here. Numbers are private: nothing here logs them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection};

use crate::acd::callback::Callback;
use crate::ops::contacts::open_beside_cdr;

#[derive(Debug, thiserror::Error)]
pub enum CallbackStoreError {
    #[error("cannot open the callback store {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("callback store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("callback store: callback {id}: {what}")]
    BadRow { id: i64, what: &'static str },
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    number TEXT NOT NULL,
    priority INTEGER NOT NULL,
    attributes TEXT NOT NULL,
    arrived_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    attempts_max INTEGER NOT NULL,
    retry_ms INTEGER NOT NULL,
    due_ms INTEGER,
    origin TEXT NOT NULL
);
";

pub struct CallbackDb {
    conn: Connection,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl CallbackDb {
    pub fn open(path: &Path) -> Result<CallbackDb, CallbackStoreError> {
        let conn = open_beside_cdr(path, SCHEMA).map_err(|source| CallbackStoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(CallbackDb { conn })
    }

    pub fn save(&mut self, id: u64, c: &Callback) -> Result<(), CallbackStoreError> {
        let attributes = serde_json::to_string(&c.attributes).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "INSERT OR REPLACE INTO callbacks (id, queue, number, priority, attributes, \
             arrived_ms, attempts, attempts_max, retry_ms, due_ms, origin) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                i64::try_from(id).unwrap_or(i64::MAX),
                c.queue,
                c.number,
                c.priority,
                attributes,
                ms(c.arrived),
                c.attempts,
                c.attempts_max,
                ms(c.retry),
                c.due.map(ms),
                c.origin,
            ],
        )?;
        Ok(())
    }

    pub fn delete(&mut self, id: u64) -> Result<(), CallbackStoreError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        self.conn
            .execute("DELETE FROM callbacks WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// Every callback not yet done, by id.
    pub fn load(&self) -> Result<Vec<(u64, Callback)>, CallbackStoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, queue, number, priority, attributes, arrived_ms, attempts, \
             attempts_max, retry_ms, due_ms, origin FROM callbacks ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                [
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(8)?,
                ],
                r.get::<_, Option<i64>>(9)?,
                r.get::<_, String>(10)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                id,
                queue,
                number,
                priority,
                attributes,
                [arrived, attempts, max, retry],
                due,
                origin,
            ) = row?;
            let bad = |what| CallbackStoreError::BadRow { id, what };
            let millis = |v: i64| u64::try_from(v).map(Duration::from_millis);
            let callback = Callback {
                queue,
                number,
                priority: u8::try_from(priority).map_err(|_| bad("priority out of range"))?,
                attributes: serde_json::from_str(&attributes)
                    .map_err(|_| bad("attributes are not a JSON list of pairs"))?,
                arrived: millis(arrived).map_err(|_| bad("arrival before 1970"))?,
                attempts: u32::try_from(attempts).map_err(|_| bad("attempts out of range"))?,
                attempts_max: u32::try_from(max).map_err(|_| bad("attempts out of range"))?,
                retry: millis(retry).map_err(|_| bad("negative retry"))?,
                due: due
                    .map(millis)
                    .transpose()
                    .map_err(|_| bad("due before 1970"))?,
                origin,
            };
            let id = u64::try_from(id).map_err(|_| bad("negative id"))?;
            out.push((id, callback));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_saved_replaced_deleted_and_loaded_back() {
        let dir = std::env::temp_dir().join(format!("cb-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cdr.sqlite");
        let _ = std::fs::remove_file(&path);
        let mut db = CallbackDb::open(&path).unwrap();
        let mut c = Callback {
            queue: "support".into(),
            number: "+15551234".into(),
            priority: 2,
            attributes: vec![("language".into(), "en".into())],
            arrived: Duration::from_millis(1_800_000_000_123),
            attempts: 0,
            attempts_max: 3,
            retry: Duration::from_secs(300),
            due: None,
            origin: "call-1".into(),
        };
        db.save(4, &c).unwrap();
        db.save(9, &c).unwrap();
        c.attempts = 1;
        c.due = Some(Duration::from_millis(1_800_000_300_123));
        db.save(4, &c).unwrap();
        db.delete(9).unwrap();
        drop(db);
        let db = CallbackDb::open(&path).unwrap();
        assert_eq!(db.load().unwrap(), vec![(4, c)]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
