//! Campaign contact state in SQLite, beside the call records (the same file
//! as `[switch].cdr_path`, tables of their own created if absent): a
//! restart continues each campaign where it was and never dials a finished
//! contact again. The dialer core (`dialer::Campaign`) emits
//! `Action::Contact` for each change; the driver saves that contact here.
//! Numbers are private: nothing here logs them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection};

use crate::dialer::tz::Dst;
use crate::dialer::{Contact, ContactId, ContactState, Mode, Zone};

/// Opens the CDR file for tables of a store of its own (contacts,
/// callbacks): waits for the CDR writer's lock, WAL, full sync, and
/// `schema` created if absent.
pub(crate) fn open_beside_cdr(path: &Path, schema: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(crate::ops::cdr::BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(schema)?;
    Ok(conn)
}

#[derive(Debug, thiserror::Error)]
pub enum ContactStoreError {
    #[error("cannot open the contact store {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("contact store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("contact store: campaign {campaign} row {index}: {what}")]
    BadRow {
        campaign: String,
        index: i64,
        what: String,
    },
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS campaigns (
    name TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    campaign TEXT NOT NULL,
    idx INTEGER NOT NULL,
    number TEXT NOT NULL,
    name TEXT NOT NULL,
    zone_offset INTEGER NOT NULL,
    zone_dst TEXT NOT NULL,
    data TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_try_ms INTEGER,
    PRIMARY KEY (campaign, idx)
);
CREATE TABLE IF NOT EXISTS dnc (
    number TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS api_campaigns (
    name TEXT PRIMARY KEY,
    settings TEXT NOT NULL
);
";

pub struct ContactStore {
    conn: Connection,
}

impl ContactStore {
    pub fn open(path: &Path) -> Result<ContactStore, ContactStoreError> {
        let conn = open_beside_cdr(path, SCHEMA).map_err(|source| ContactStoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(ContactStore { conn })
    }

    /// The campaign's contacts as stored; on its first start (none stored)
    /// `list` is stored and returned. A list changed later does not reset
    /// what was dialled: stored contacts win.
    pub fn load_or_insert(
        &mut self,
        campaign: &str,
        mode: Mode,
        list: Vec<Contact>,
    ) -> Result<Vec<Contact>, ContactStoreError> {
        let stored = self.load(campaign)?;
        if !stored.is_empty() {
            return Ok(stored);
        }
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO campaigns (name, mode, status) VALUES (?1, ?2, 'idle')",
            params![campaign, mode.name()],
        )?;
        for (i, c) in list.iter().enumerate() {
            upsert(&tx, campaign, ContactId(i as u32), c)?;
        }
        tx.commit()?;
        Ok(list)
    }

    /// Saves one contact's state (after an `Action::Contact`).
    pub fn save(
        &mut self,
        campaign: &str,
        id: ContactId,
        contact: &Contact,
    ) -> Result<(), ContactStoreError> {
        upsert(&self.conn, campaign, id, contact)
    }

    /// Stores a campaign made through the API: its settings as given
    /// (JSON) and its row, with no contacts yet.
    pub fn save_api_campaign(
        &mut self,
        campaign: &str,
        mode: Mode,
        settings: &str,
    ) -> Result<(), ContactStoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO api_campaigns (name, settings) VALUES (?1, ?2)",
            params![campaign, settings],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO campaigns (name, mode, status) VALUES (?1, ?2, 'idle')",
            params![campaign, mode.name()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The campaigns made through the API, by name, as (name, settings).
    pub fn api_campaigns(&self) -> Result<Vec<(String, String)>, ContactStoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, settings FROM api_campaigns ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores a number the API listed (`listed`) or forgets it.
    pub fn set_dnc(&mut self, number: &str, listed: bool) -> Result<(), ContactStoreError> {
        let sql = match listed {
            true => "INSERT OR IGNORE INTO dnc (number) VALUES (?1)",
            false => "DELETE FROM dnc WHERE number = ?1",
        };
        self.conn.execute(sql, params![number])?;
        Ok(())
    }

    /// The numbers the API listed, in order.
    pub fn dnc(&self) -> Result<Vec<String>, ContactStoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT number FROM dnc ORDER BY number")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn set_status(&mut self, campaign: &str, status: &str) -> Result<(), ContactStoreError> {
        self.conn.execute(
            "UPDATE campaigns SET status = ?2 WHERE name = ?1",
            params![campaign, status],
        )?;
        Ok(())
    }

    pub fn status(&self, campaign: &str) -> Result<Option<String>, ContactStoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT status FROM campaigns WHERE name = ?1")?;
        let mut rows = stmt.query(params![campaign])?;
        Ok(match rows.next()? {
            Some(r) => Some(r.get(0)?),
            None => None,
        })
    }

    /// The campaign's contacts in list order.
    pub fn load(&self, campaign: &str) -> Result<Vec<Contact>, ContactStoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT idx, number, name, zone_offset, zone_dst, data, state, attempts, next_try_ms \
             FROM contacts WHERE campaign = ?1 ORDER BY idx",
        )?;
        let rows = stmt.query_map(params![campaign], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i32>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, Option<i64>>(8)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (index, number, name, offset, dst, data, state, attempts, next) = row?;
            let bad = |what: &str| ContactStoreError::BadRow {
                campaign: campaign.to_owned(),
                index,
                what: what.to_owned(),
            };
            if index != out.len() as i64 {
                return Err(bad("a gap in the contact indices"));
            }
            let dst = match dst.as_str() {
                "none" => Dst::None,
                "us" => Dst::Us,
                "eu" => Dst::Eu,
                _ => return Err(bad("unknown daylight saving rule")),
            };
            let mut c = Contact::new(
                number,
                name,
                Zone {
                    offset_minutes: offset,
                    dst,
                },
            );
            c.data = serde_json::from_str(&data)
                .map_err(|_| bad("data is not a JSON object of strings"))?;
            c.state = ContactState::from_name(&state).ok_or_else(|| bad("unknown state"))?;
            c.attempts = u32::try_from(attempts).map_err(|_| bad("attempts out of range"))?;
            c.next_try = next
                .map(|ms| u64::try_from(ms).map(Duration::from_millis))
                .transpose()
                .map_err(|_| bad("next try before 1970"))?;
            out.push(c);
        }
        Ok(out)
    }
}

fn upsert(
    conn: &Connection,
    campaign: &str,
    id: ContactId,
    c: &Contact,
) -> Result<(), ContactStoreError> {
    let dst = match c.zone.dst {
        Dst::None => "none",
        Dst::Us => "us",
        Dst::Eu => "eu",
    };
    let data = serde_json::to_string(&c.data).expect("a map of strings serialises");
    let next = c
        .next_try
        .map(|t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX));
    conn.execute(
        "INSERT INTO contacts (campaign, idx, number, name, zone_offset, zone_dst, data, state, attempts, next_try_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (campaign, idx) DO UPDATE SET state = excluded.state, \
         attempts = excluded.attempts, next_try_ms = excluded.next_try_ms",
        params![
            campaign,
            i64::from(id.0),
            c.number,
            c.name,
            c.zone.offset_minutes,
            dst,
            data,
            c.state.name(),
            i64::from(c.attempts),
            next
        ],
    )?;
    Ok(())
}
