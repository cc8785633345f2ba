//! Campaigns at start-up and their contact store (driver): each
//! `[[campaigns]]` entry's contacts come from SQLite (beside the call
//! records) or, on its first start, from its CSV list; the DNC lists are
//! read; the switch gets them all. Afterwards the contact changes the core
//! hands out are written by a thread of their own, like the call records.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use tracing::{info, warn};

use crate::config::{campaign_from_json, Config};
use crate::dialer::list::read_contacts;
use crate::ops::contacts::ContactStore;
use crate::switch::campaigns::{status_name, CampaignOutput};
use crate::switch::Switch;

/// Contact changes queued for the writer; past it they are dropped,
/// counted and logged (the contact is saved again at its next change).
pub const CONTACT_WRITES_MAX: usize = 65_536;

pub(super) struct ContactWriter {
    tx: Option<mpsc::SyncSender<CampaignOutput>>,
    thread: Option<JoinHandle<()>>,
    pub dropped: u64,
}

impl ContactWriter {
    pub fn submit(&mut self, output: CampaignOutput) {
        let Some(tx) = &self.tx else { return };
        if tx.try_send(output).is_err() {
            self.dropped += 1;
            warn!("campaign contact change lost: the writer is behind");
        }
    }

    /// Every change submitted is written before this returns.
    pub fn close(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Loads the campaigns into the switch: the dialplan's, then those made
/// through the API; `None` when their store cannot be opened (logged: the
/// switch runs without them).
pub(super) fn load(config: &Config, switch: &mut Switch, now: Instant) -> Option<ContactWriter> {
    match config.check_campaign_files() {
        Ok(dnc) => {
            info!(numbers = dnc.len(), "do-not-call list read");
            switch.set_dnc(dnc, config.dnc.numbering.clone());
        }
        Err(err) => warn!(%err, "campaign lists have problems: bad rows left out"),
    }
    let mut store = match ContactStore::open(&config.switch.cdr_path) {
        Ok(s) => s,
        Err(err) => {
            warn!(%err, "campaigns not started: no contact store");
            return None;
        }
    };
    match store.dnc() {
        Ok(numbers) => {
            info!(
                numbers = numbers.len(),
                "do-not-call numbers listed by the api"
            );
            switch.restore_dnc(numbers);
        }
        Err(err) => warn!(%err, "do-not-call numbers listed by the api not read"),
    }
    for c in &config.campaigns {
        let path = config.relative(&c.contacts);
        let list = match std::fs::read_to_string(&path) {
            Ok(text) => read_contacts(&text, c.timezone, &config.dnc.numbering).0,
            Err(err) => {
                warn!(campaign = %c.name, %err, path = %path.display(), "contact list unreadable");
                Vec::new()
            }
        };
        let contacts = match store.load_or_insert(&c.name, c.mode, list) {
            Ok(contacts) => contacts,
            Err(err) => {
                warn!(campaign = %c.name, %err, "campaign not loaded");
                continue;
            }
        };
        let stored = store.status(&c.name).ok().flatten();
        switch.add_campaign(now, c.clone(), contacts, stored.as_deref());
    }
    load_api_campaigns(config, switch, &mut store, now);
    let (tx, rx) = mpsc::sync_channel::<CampaignOutput>(CONTACT_WRITES_MAX);
    let thread = std::thread::Builder::new()
        .name("contacts".into())
        .spawn(move || write_loop(store, rx))
        .ok()?;
    Some(ContactWriter {
        tx: Some(tx),
        thread: Some(thread),
        dropped: 0,
    })
}

/// The campaigns made through the API, from their stored settings. One a
/// dialplan campaign now shares the name of, or whose settings no longer
/// pass (a queue or trunk gone), stays stored and is not loaded, logged.
fn load_api_campaigns(
    config: &Config,
    switch: &mut Switch,
    store: &mut ContactStore,
    now: Instant,
) {
    let list = match store.api_campaigns() {
        Ok(list) => list,
        Err(err) => return warn!(%err, "campaigns made through the api not read"),
    };
    for (name, settings) in list {
        if config.campaigns.iter().any(|c| c.name == name) {
            warn!(campaign = %name, "a campaign made through the api has the name of a dialplan campaign: the dialplan's is loaded");
            continue;
        }
        let parsed = serde_json::from_str(&settings)
            .map_err(|e| e.to_string())
            .and_then(|v| {
                campaign_from_json(&v).map_err(|p| format!("{}: {}", p.field, p.message))
            });
        let c = match parsed {
            Ok(c) => c,
            Err(why) => {
                warn!(campaign = %name, %why, "a campaign made through the api is not loaded");
                continue;
            }
        };
        let contacts = match store.load_or_insert(&c.name, c.mode, Vec::new()) {
            Ok(contacts) => contacts,
            Err(err) => {
                warn!(campaign = %c.name, %err, "campaign not loaded");
                continue;
            }
        };
        let stored = store.status(&c.name).ok().flatten();
        if let Err(err) = switch.check_campaign_targets(&c) {
            warn!(campaign = %c.name, %err, "a campaign made through the api is not loaded");
            continue;
        }
        switch.add_campaign(now, c, contacts, stored.as_deref());
    }
}

fn write_loop(mut store: ContactStore, rx: mpsc::Receiver<CampaignOutput>) {
    while let Ok(output) = rx.recv() {
        let result = match &output {
            CampaignOutput::Contact {
                campaign,
                id,
                contact,
            } => store.save(campaign, *id, contact),
            CampaignOutput::Status { campaign, status } => {
                store.set_status(campaign, status_name(*status))
            }
            CampaignOutput::Dnc { number, listed } => store.set_dnc(number, *listed),
            CampaignOutput::Created {
                campaign,
                mode,
                settings,
            } => store.save_api_campaign(campaign, *mode, settings),
        };
        if let Err(err) = result {
            warn!(%err, "campaign contact store write failed");
        }
    }
}
