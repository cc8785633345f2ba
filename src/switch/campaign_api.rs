//! Campaign commands from the API: create, start, pause, stop (each only
//! from where it makes sense, else a conflict naming the status), and contact
//! uploads read as a contact list is (`dialer::list`), refused whole at
//! the first bad row so that an upload is all or nothing; and the
//! do-not-call list's reads and changes.

use std::time::Instant;

use tracing::{info, warn};

use super::campaigns::{status_name, CampaignOutput};
use super::command::{CampaignMove, CommandError, Reply, DNC_PAGE_MAX};
use super::Switch;
use crate::call::Private;
use crate::config::{campaign_from_json, CampaignConfig};
use crate::dialer::list::read_contacts;
use crate::dialer::{normalise, ContactId, Event};

impl Switch {
    pub(super) fn campaign_move(
        &mut self,
        now: Instant,
        name: &str,
        action: CampaignMove,
    ) -> Result<(), CommandError> {
        let (event, verb) = match action {
            CampaignMove::Start => (Event::Start, "start"),
            CampaignMove::Pause => (Event::Pause, "pause"),
            CampaignMove::Stop => (Event::Stop, "stop"),
        };
        let i = self
            .campaigns
            .index(name)
            .ok_or_else(|| CommandError::UnknownCampaign(name.to_string()))?;
        let status = status_name(self.campaigns.list[i].core.status());
        match self.campaign_control(now, name, event) {
            Some(true) => Ok(()),
            _ => Err(CommandError::CampaignState {
                name: name.to_string(),
                status,
                action: verb,
            }),
        }
    }

    /// The offered agent accepts or skips a preview; a conflict when the
    /// campaign has not offered them that contact.
    pub(super) fn preview_answer(
        &mut self,
        now: Instant,
        name: &str,
        contact: u32,
        agent: &str,
        accept: bool,
    ) -> Result<(), CommandError> {
        let i = self
            .campaigns
            .index(name)
            .ok_or_else(|| CommandError::UnknownCampaign(name.to_string()))?;
        let offered = self.campaigns.list[i].core.previewing(agent);
        if offered != Some(ContactId(contact)) {
            return Err(CommandError::NotOffered {
                name: name.to_string(),
                contact,
                agent: agent.to_string(),
            });
        }
        info!(campaign = %name, %agent, contact, accept, "preview answered");
        let event = match accept {
            true => Event::PreviewAccepted(agent.to_string()),
            false => Event::PreviewSkipped(agent.to_string()),
        };
        self.campaign_input(now, i, event);
        Ok(())
    }

    /// Reads `csv` as the campaign's list reads and appends its contacts;
    /// the number of contacts taken.
    pub(super) fn add_contacts(
        &mut self,
        now: Instant,
        name: &str,
        csv: &str,
    ) -> Result<usize, CommandError> {
        let i = self
            .campaigns
            .index(name)
            .ok_or_else(|| CommandError::UnknownCampaign(name.to_string()))?;
        let zone = self.campaigns.list[i].config.timezone;
        let (contacts, problems) = read_contacts(csv, zone, &self.campaigns.numbering);
        if let Some(p) = problems.into_iter().next() {
            return Err(CommandError::BadContacts {
                line: p.line,
                field: p.field,
                message: p.message,
            });
        }
        let d = &mut self.campaigns.list[i];
        let added = d.core.add_contacts(contacts);
        let saves: Vec<CampaignOutput> = added
            .iter()
            .filter_map(|&id| {
                Some(CampaignOutput::Contact {
                    campaign: name.to_string(),
                    id,
                    contact: d.core.contact(id)?.clone(),
                })
            })
            .collect();
        for save in saves {
            self.campaigns.push(save);
        }
        tracing::info!(campaign = %name, added = added.len(), "contacts uploaded");
        self.campaign_input(now, i, Event::Tick);
        Ok(added.len())
    }
}

/// The do-not-call list through the API: read, list a number, unlist one.
/// Numbers are read into E.164 as the `[dnc]` list files are; those listed
/// here are stored (beside the campaigns' contacts) and gate every dial
/// as the files' numbers do.
impl Switch {
    pub(super) fn list_dnc(
        &self,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<Reply, CommandError> {
        let dnc = &self.campaigns.dnc;
        let numbers = match limit {
            None => None,
            Some(l) if l == 0 || l > DNC_PAGE_MAX => return Err(CommandError::DncPage),
            Some(l) => Some(dnc.page(offset, l)),
        };
        Ok(Reply::Dnc {
            count: dnc.len(),
            numbers,
        })
    }

    /// Lists `text` (and stores it); listing a listed number again is fine.
    pub(super) fn add_dnc(&mut self, text: &str) -> Result<Reply, CommandError> {
        if self.campaigns.list.is_empty() {
            return Err(CommandError::NoDncStore);
        }
        let c = &mut self.campaigns;
        let number = normalise(text, &c.numbering).map_err(CommandError::DncNumber)?;
        if !c.dnc.contains(&number) && !c.dnc.add(&number) {
            warn!(number = %Private(&number), "do-not-call list full: number not listed");
            return Err(CommandError::DncFull);
        }
        c.dnc_stored.insert(number.clone());
        c.push(CampaignOutput::Dnc {
            number: number.clone(),
            listed: true,
        });
        info!(number = %Private(&number), "do-not-call: number listed by the api");
        Ok(Reply::DncNumber { number })
    }

    /// Unlists a number the API listed; one a list file gives stays (the
    /// file is the place to change it).
    pub(super) fn remove_dnc(&mut self, text: &str) -> Result<Reply, CommandError> {
        let c = &mut self.campaigns;
        let number = normalise(text, &c.numbering).map_err(CommandError::DncNumber)?;
        if !c.dnc_stored.remove(&number) {
            return Err(match c.dnc.contains(&number) {
                true => CommandError::ListedByFile(number),
                false => CommandError::NotListed(number),
            });
        }
        if !c.dnc_files.contains(&number) {
            c.dnc.remove(&number);
        }
        c.push(CampaignOutput::Dnc {
            number: number.clone(),
            listed: false,
        });
        info!(number = %Private(&number), "do-not-call: number unlisted by the api");
        Ok(Reply::DncNumber { number })
    }

    /// Numbers the API listed before a restart, from the store.
    pub fn restore_dnc(&mut self, numbers: Vec<String>) {
        let c = &mut self.campaigns;
        for number in numbers {
            if c.dnc.contains(&number) || c.dnc.add(&number) {
                c.dnc_stored.insert(number);
            }
        }
    }
}

impl Switch {
    /// A campaign made through the API, its settings checked as a
    /// dialplan entry's; its name must be new, its queue and trunk the
    /// switch's. Stored ([`CampaignOutput::Created`]) so that a
    /// restart loads it again; its contacts come by upload.
    pub(super) fn create_campaign(
        &mut self,
        now: Instant,
        settings: &serde_json::Value,
    ) -> Result<Reply, CommandError> {
        let config = campaign_from_json(settings).map_err(|p| CommandError::BadCampaign {
            field: if p.field.is_empty() {
                "body".into()
            } else {
                p.field
            },
            message: p.message,
        })?;
        if self.campaigns.index(&config.name).is_some() {
            return Err(CommandError::CampaignExists(config.name));
        }
        self.check_campaign_targets(&config)?;
        let name = config.name.clone();
        info!(campaign = %name, queue = %config.queue, trunk = %config.trunk, "campaign created through the api");
        self.campaigns.push(CampaignOutput::Created {
            campaign: name.clone(),
            mode: config.mode,
            settings: settings.to_string(),
        });
        self.add_campaign(now, config, Vec::new(), None);
        let campaigns = self
            .campaign_snapshots()
            .into_iter()
            .filter(|c| c.name == name)
            .collect();
        Ok(Reply::Campaigns { campaigns })
    }

    /// The campaign's queue and trunk exist here (the trunk with an
    /// outbound address).
    pub fn check_campaign_targets(&self, config: &CampaignConfig) -> Result<(), CommandError> {
        if self.router.queue_id(&config.queue).is_none() {
            return Err(CommandError::UnknownQueue(config.queue.clone()));
        }
        let outbound = self
            .plan
            .trunks
            .iter()
            .any(|t| t.name == config.trunk && t.outbound.is_some());
        if !outbound {
            return Err(CommandError::UnknownTrunk(config.trunk.clone()));
        }
        Ok(())
    }
}
