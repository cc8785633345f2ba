//! IVR menu checks: digit keys, choices that name queues, agents and menus
//! the file declares, and defaults that would pass a silent caller from
//! menu to menu for ever.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::super::raw::RawMenu;
use super::super::values::check_name;
use super::super::*;
use super::{root, Cx, Known};
use crate::config::locate::FieldPath;

/// Digits a menu option may be keyed on (RFC 4733 §3.2 events 0-11).
const MENU_DIGITS: &str = "0123456789*#";

impl Cx<'_, '_> {
    pub(super) fn menus(&mut self, raw: Vec<(usize, RawMenu)>, known: &Known) -> Vec<MenuConfig> {
        let mut seen = HashMap::new();
        let mut menus = Vec::new();
        for (i, m) in raw {
            let p = root().key("menus").index(i);
            self.unique(&m.name, &p.key("name"), &mut seen);
            menus.extend(self.menu(&p, m, known).map(|m| (i, m)));
        }
        self.check_default_cycles(&menus);
        menus.into_iter().map(|(_, m)| m).collect()
    }

    fn menu(&mut self, p: &FieldPath, raw: RawMenu, known: &Known) -> Option<MenuConfig> {
        let before = self.problems.len();
        if let Err(kind) = check_name(&raw.name) {
            self.report(&p.key("name"), kind);
        }
        if let Err(kind) = check_name(&raw.prompt) {
            self.report(&p.key("prompt"), kind);
        }
        let mut options = BTreeMap::new();
        for (key, value) in &raw.options {
            let at = p.key("options").key(key);
            let mut chars = key.chars();
            let digit = match (chars.next(), chars.next()) {
                (Some(d), None) if MENU_DIGITS.contains(d) => d,
                _ => {
                    let kind = ProblemKind::InvalidMenuDigit { key: key.clone() };
                    self.report(&at, kind);
                    continue;
                }
            };
            if let Some(target) = self.menu_target(value, &at, known) {
                options.insert(digit, target);
            }
        }
        if options.is_empty() && raw.options.is_empty() {
            self.report(&p.key("options"), ProblemKind::Empty);
        }
        let default = raw
            .default
            .as_deref()
            .and_then(|d| self.menu_target(d, &p.key("default"), known));
        let timeout = self.duration(
            raw.timeout.as_deref(),
            &p.key("timeout"),
            Duration::from_secs(5),
            true,
        );
        let retries = self.int(
            raw.retries,
            &p.key("retries"),
            2,
            0,
            i64::from(MENU_RETRIES_MAX),
        );
        let prompt_at = self.locate(&p.key("prompt"));
        if self.problems.len() > before {
            return None;
        }
        Some(MenuConfig {
            name: raw.name,
            prompt: raw.prompt,
            options,
            timeout,
            retries,
            default,
            prompt_at,
        })
    }

    /// `queue:<name>`, `agent:<id>` or `menu:<name>`, naming one the file declares.
    fn menu_target(&mut self, text: &str, at: &FieldPath, known: &Known) -> Option<MenuTarget> {
        let Some(target) = MenuTarget::parse(text) else {
            let kind = ProblemKind::InvalidMenuTarget {
                value: text.to_owned(),
            };
            self.report(at, kind);
            return None;
        };
        let unknown = match &target {
            MenuTarget::Queue(q) if !known.queues.contains(q) => {
                Some(ProblemKind::UnknownQueue { queue: q.clone() })
            }
            MenuTarget::Agent(a) if !known.agents.contains(a) => {
                Some(ProblemKind::UnknownAgent { agent: a.clone() })
            }
            MenuTarget::Menu(m) if !known.menus.contains(m) => {
                Some(ProblemKind::UnknownMenu { menu: m.clone() })
            }
            _ => None,
        };
        match unknown {
            Some(kind) => {
                self.report(at, kind);
                None
            }
            None => Some(target),
        }
    }

    /// Options may lead back to a menu (a key press each time), but
    /// defaults must end in a queue, an agent or a refusal.
    fn check_default_cycles(&mut self, menus: &[(usize, MenuConfig)]) {
        let next: HashMap<&str, &str> = menus
            .iter()
            .filter_map(|(_, m)| match &m.default {
                Some(MenuTarget::Menu(to)) => Some((m.name.as_str(), to.as_str())),
                _ => None,
            })
            .collect();
        for (i, m) in menus {
            let mut cycle = vec![m.name.clone()];
            let mut at = m.name.as_str();
            while let Some(&to) = next.get(at) {
                cycle.push(to.to_owned());
                if to == m.name {
                    let path = root().key("menus").index(*i).key("default");
                    self.report(&path, ProblemKind::MenuDefaultCycle { cycle });
                    break;
                }
                if cycle.len() > next.len() + 1 {
                    // A loop further on, reported at its own menus.
                    break;
                }
                at = to;
            }
        }
    }
}
