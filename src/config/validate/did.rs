//! `[dids]` checks: each number's target (one agent, queue or menu),
//! priority, attributes and recording.

use super::*;

impl Cx<'_, '_> {
    /// Reads the `[dids]` table into `into`, each entry as written.
    pub(super) fn dids(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        path: &FieldPath,
        into: &mut Vec<(String, RawDid)>,
    ) {
        let Some(table) = value.get_ref().as_table() else {
            let found = value.get_ref().type_str();
            let kind = ProblemKind::WrongType {
                expected: "a table",
                found,
            };
            return self.report(path, kind);
        };
        if table.len() > DIDS_MAX {
            let count = table.len();
            let kind = ProblemKind::TooMany {
                count,
                max: DIDS_MAX,
            };
            return self.report(path, kind);
        }
        for (did, e) in table.iter() {
            into.extend(self.de(e).map(|v| (did.get_ref().to_string(), v)));
        }
    }

    pub(super) fn did(&mut self, did: &str, raw: RawDid, known: &Known) -> Option<DidRoute> {
        let p = root().key("dids").key(did);
        if let Err(kind) = check_did(did) {
            self.report(&p, kind);
        }
        let attributes = self.attributes(raw.attributes, &p.key("attributes"));
        let target = match (raw.agent, raw.queue, raw.menu) {
            (Some(agent), None, None) => {
                if raw.priority.is_some() {
                    self.report(&p.key("priority"), ProblemKind::PriorityWithoutQueue);
                }
                if !known.agents.contains(&agent) {
                    self.report(
                        &p.key("agent"),
                        ProblemKind::UnknownAgent {
                            agent: agent.clone(),
                        },
                    );
                }
                DidTarget::Agent(agent)
            }
            (None, Some(queue), None) => {
                if !known.queues.contains(&queue) {
                    self.report(
                        &p.key("queue"),
                        ProblemKind::UnknownQueue {
                            queue: queue.clone(),
                        },
                    );
                }
                DidTarget::Queue(queue)
            }
            (None, None, Some(menu)) => {
                if !known.menus.contains(&menu) {
                    let kind = ProblemKind::UnknownMenu { menu: menu.clone() };
                    self.report(&p.key("menu"), kind);
                }
                DidTarget::Menu(menu)
            }
            _ => {
                self.report(&p, ProblemKind::DidTargetCount);
                return None;
            }
        };
        let priority = self.int(
            raw.priority,
            &p.key("priority"),
            0,
            0,
            i64::from(DID_PRIORITY_MAX),
        );
        let record = raw.record.unwrap_or(false);
        if record && !known.media {
            self.report(&p.key("record"), ProblemKind::RecordWithoutMedia);
        }
        Some(DidRoute {
            target,
            priority: u8::try_from(priority).unwrap_or(0),
            attributes,
            record,
        })
    }
}
