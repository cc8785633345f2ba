//! Campaign commands from the API: start, pause, stop (each only from
//! where it makes sense, else a conflict naming the status), and contact
//! uploads read as a contact list is (`dialer::list`), refused whole at
//! the first bad row so that an upload is all or nothing.

use std::time::Instant;

use super::campaigns::{status_name, CampaignOutput};
use super::command::{CampaignMove, CommandError};
use super::Switch;
use crate::dialer::list::read_contacts;
use crate::dialer::Event;

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
