//! IVR menus: a caller routed to a menu hears its prompt as early media and
//! picks an option with a DTMF digit (RFC 4733 or SIP INFO); the call then
//! goes on exactly as if its DID had named that queue or agent. Silence
//! replays the prompt every `timeout`, `retries` times, then the menu's
//! default applies (or the caller gets 480).
//!
//! [`MenuSession`] is the pure menu machine (`call/session/menu.rs`):
//! digits and deadlines in, steps out; the call's session holds one while
//! the caller is in a menu, the switch keeps its deadline in its timer
//! table (`timers.rs`) and carries its steps out (prompts to the relay, the
//! queue or agent offer). Routing itself stays in `queues.rs` and `legs.rs`.

use std::time::Instant;

use tracing::debug;

use super::timers::Timer;
use super::{MediaCommand, MediaLeg, Output, Switch};
use crate::call::session::SessionEvent;
use crate::call::{CallRef, Outcome, Routing};

pub use crate::call::session::menu::{
    CallMenu, IvrError, MenuPlan, MenuSession, MenuStep, MENU_HOPS_MAX,
};

/// What a caller hears while the agent it picked rings.
pub const MENU_RINGBACK: &str = "ringback";

impl Switch {
    /// A call routed to `menu`: the caller already has its 183 (or 180).
    pub(super) fn start_menu(
        &mut self,
        now: Instant,
        id: CallRef,
        menu: &str,
        priority: u8,
        attributes: Vec<(String, String)>,
    ) {
        let (session, step) = match MenuSession::start(&self.plan.menus, menu, now) {
            Ok(started) => started,
            Err(err) => {
                debug!(call = %id, %err, "menu cannot start");
                self.stats.menu_refused += 1;
                return self.unroutable(now, id, Outcome::Unavailable);
            }
        };
        if !self.calls.contains_key(&id) {
            return;
        }
        let menu = CallMenu {
            session,
            priority,
            attributes,
        };
        self.session_event(now, id, SessionEvent::MenuEntered(menu));
        self.carry_menu_step(now, id, step);
    }

    /// A digit from the caller, when it is in a menu. True if the menu took it.
    pub(super) fn menu_digit(&mut self, now: Instant, id: CallRef, digit: char) -> bool {
        let Some(menu) = self.calls.get_mut(&id).and_then(|e| e.phase.menu_mut()) else {
            return false;
        };
        let option = self
            .plan
            .menus
            .get(menu.session.menu())
            .is_some_and(|p| p.options.contains_key(&digit));
        if option {
            let key = format!("{}:{digit}", menu.session.menu());
            let entry = self
                .calls
                .get_mut(&id)
                .expect("the menu's call was found above");
            entry.detail.ivr_key(&key);
        }
        let Some(menu) = self.calls.get_mut(&id).and_then(|e| e.phase.menu_mut()) else {
            return false;
        };
        let step = menu.session.on_digit(&self.plan.menus, digit, now);
        if matches!(step, Ok(MenuStep::Queue(_) | MenuStep::Agent(_))) {
            // A wrong key after the last replay leads to the default.
            if option {
                self.stats.menu_chosen += 1;
            } else {
                self.stats.menu_defaulted += 1;
            }
        }
        self.menu_step_result(now, id, step);
        true
    }

    /// Menu waits that ran out at `now`.
    pub(super) fn handle_menu_timeout(&mut self, now: Instant) {
        while let Some((at, id)) = self.timers.next_due(Timer::Menu, now) {
            let Some(menu) = self.calls.get_mut(&id).and_then(|e| e.phase.menu_mut()) else {
                // The same timer ends a failed transfer's fallback prompt.
                self.fallback_prompt_over(now, id, at);
                continue;
            };
            if menu.session.deadline != at {
                continue;
            }
            let name = menu.session.menu().to_string();
            match menu.session.on_timeout(&self.plan.menus, now) {
                Ok(None) => {}
                Ok(Some(step)) => {
                    if matches!(step, MenuStep::Queue(_) | MenuStep::Agent(_)) {
                        self.stats.menu_defaulted += 1;
                        if let Some(e) = self.calls.get_mut(&id) {
                            e.detail.ivr_key(&format!("{name}:default"));
                        }
                    }
                    self.carry_menu_step(now, id, step);
                }
                Err(err) => self.menu_step_result(now, id, Err(err)),
            }
        }
    }

    fn menu_step_result(&mut self, now: Instant, id: CallRef, step: Result<MenuStep, IvrError>) {
        match step {
            Ok(step) => self.carry_menu_step(now, id, step),
            Err(err) => {
                debug!(call = %id, %err, "menu gave up");
                self.carry_menu_step(now, id, MenuStep::Refuse);
            }
        }
    }

    fn carry_menu_step(&mut self, now: Instant, id: CallRef, step: MenuStep) {
        let anchored = self.anchoring.is_some();
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        if let MenuStep::Play { prompt } = step {
            if let Some(menu) = entry.phase.menu() {
                let at = menu.session.deadline;
                self.timers.set(Timer::Menu, id, at);
            }
            if anchored && entry.media.is_some() {
                self.out.push_back(Output::Media(MediaCommand::Play {
                    call: id,
                    leg: MediaLeg::Caller,
                    intro: vec![prompt],
                    music: Vec::new(),
                }));
            }
            return;
        }
        let Some(menu) = entry.phase.leave_menu() else {
            return;
        };
        match step {
            MenuStep::Queue(queue) => {
                debug!(call = %id, "menu: to a queue");
                entry.queue = Some(queue.clone());
                entry.span.record("queue", queue.as_str());
                entry.call.routing = Routing::Queued;
                self.enqueue(now, id, &queue, menu.priority, menu.attributes);
                self.start_queue_audio(now, id);
            }
            MenuStep::Agent(agent) => {
                debug!(call = %id, "menu: to an agent");
                if anchored && entry.media.is_some() {
                    self.out.push_back(Output::Media(MediaCommand::Play {
                        call: id,
                        leg: MediaLeg::Caller,
                        intro: Vec::new(),
                        music: vec![MENU_RINGBACK.to_owned()],
                    }));
                }
                self.offer_agent(now, id, &agent);
            }
            MenuStep::Refuse | MenuStep::Play { .. } => {
                self.stats.menu_refused += 1;
                self.unroutable(now, id, Outcome::Unavailable);
            }
        }
    }
}
