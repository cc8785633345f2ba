//! Contacts uploaded to a running campaign (the API's contact upload):
//! appended to its list and due at once; a number the campaign has
//! already is left out, so an upload sent twice dials nobody twice.

use super::{Campaign, Status};
use crate::dialer::contact::{Contact, ContactId};
use crate::dialer::list::CONTACTS_MAX;

impl Campaign {
    /// Appends `contacts` (up to [`CONTACTS_MAX`] in all) and returns the
    /// ids of those taken. A finished campaign runs again for them.
    pub fn add_contacts(&mut self, contacts: Vec<Contact>) -> Vec<ContactId> {
        let mut added = Vec::new();
        for c in contacts {
            if self.contacts.len() >= CONTACTS_MAX {
                break;
            }
            if self.contacts.iter().any(|k| k.number == c.number) {
                continue;
            }
            let id = ContactId(self.contacts.len() as u32);
            self.contacts.push(c);
            self.due.push_back(id);
            added.push(id);
        }
        if !added.is_empty() && self.status == Status::Finished {
            self.status = Status::Running;
        }
        added
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::dialer::{Dnc, Event, Spec, Zone};

    #[test]
    fn uploaded_contacts_are_dialled_and_known_numbers_are_left_out() {
        let zone = Zone::parse("UTC").unwrap();
        let contact = |n: &str| Contact::new(n.into(), String::new(), zone);
        let noon = Duration::from_secs(1_796_644_800);
        let mut c = Campaign::new(Spec::default(), vec![contact("+1555")], noon);
        let added = c.add_contacts(vec![contact("+1555"), contact("+1666")]);
        assert_eq!(added, vec![ContactId(1)]);
        let mut dnc = Dnc::default();
        c.handle(noon, Event::Start, &mut dnc);
        let out = c.handle(noon, Event::AgentReady("a".into()), &mut dnc);
        assert!(out
            .iter()
            .any(|a| matches!(a, crate::dialer::Action::Dial { .. })));
        assert_eq!(c.contacts().len(), 2);
    }
}
