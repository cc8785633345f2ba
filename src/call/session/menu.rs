//! The IVR menu machine of one call: digits and deadlines in, steps out
//! ([`MenuSession`]). The session holds one while its call is in a menu
//! (`Phase::Menu`); the switch keeps the deadline in its timer table and
//! carries the steps out (prompts to the relay, the queue or agent offer).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::config::{MenuConfig, MenuTarget};

/// Menus a call may enter (sub-menus, "back to the main menu", defaults
/// naming menus); past it the caller is refused rather than kept in the IVR.
pub const MENU_HOPS_MAX: u32 = 32;

/// One menu as the switch runs it.
#[derive(Clone, Debug, PartialEq)]
pub struct MenuPlan {
    pub prompt: String,
    pub options: BTreeMap<char, MenuTarget>,
    /// From the start of each play of the prompt.
    pub timeout: Duration,
    /// Replays after the first play.
    pub retries: u32,
    pub default: Option<MenuTarget>,
}

impl MenuPlan {
    pub fn from_config(cfg: &MenuConfig) -> MenuPlan {
        MenuPlan {
            prompt: cfg.prompt.clone(),
            options: cfg.options.clone(),
            timeout: cfg.timeout,
            retries: cfg.retries,
            default: cfg.default.clone(),
        }
    }
}

/// What the switch must do for the caller in a menu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MenuStep {
    /// Play this prompt (from its start) and wait for a digit.
    Play { prompt: String },
    /// The caller goes to this queue.
    Queue(String),
    /// The caller goes to this agent.
    Agent(String),
    /// No choice and no default: refuse the call (480).
    Refuse,
}

/// Why a menu could not be run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IvrError {
    #[error("no menu named {menu:?}")]
    UnknownMenu { menu: String },
    #[error("the caller went through {MENU_HOPS_MAX} menus without reaching anyone")]
    TooManyHops,
}

/// One caller's way through the menus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MenuSession {
    menu: String,
    /// Plays of the current menu's prompt so far.
    plays: u32,
    /// Menus entered, the first included.
    hops: u32,
    /// When the current play's wait for a digit ends.
    pub deadline: Instant,
}

impl MenuSession {
    /// Enters `menu`: its prompt plays, the wait for a digit starts.
    pub fn start(
        menus: &HashMap<String, MenuPlan>,
        menu: &str,
        now: Instant,
    ) -> Result<(MenuSession, MenuStep), IvrError> {
        let mut session = MenuSession {
            menu: String::new(),
            plays: 0,
            hops: 0,
            deadline: now,
        };
        let step = session.enter(menus, menu, now)?;
        Ok((session, step))
    }

    /// The menu the caller is in.
    pub fn menu(&self) -> &str {
        &self.menu
    }

    /// A digit from the caller: its option, or for a digit the menu does
    /// not know, the prompt again (a play used up, like a timeout).
    pub fn on_digit(
        &mut self,
        menus: &HashMap<String, MenuPlan>,
        digit: char,
        now: Instant,
    ) -> Result<MenuStep, IvrError> {
        let plan = self.plan(menus)?;
        match plan.options.get(&digit).cloned() {
            Some(target) => self.go(menus, target, now),
            None => self.replay_or_default(menus, now),
        }
    }

    /// The wait for a digit ran out: `None` before the deadline.
    pub fn on_timeout(
        &mut self,
        menus: &HashMap<String, MenuPlan>,
        now: Instant,
    ) -> Result<Option<MenuStep>, IvrError> {
        if now < self.deadline {
            return Ok(None);
        }
        self.replay_or_default(menus, now).map(Some)
    }

    fn plan<'m>(&self, menus: &'m HashMap<String, MenuPlan>) -> Result<&'m MenuPlan, IvrError> {
        menus.get(&self.menu).ok_or_else(|| IvrError::UnknownMenu {
            menu: self.menu.clone(),
        })
    }

    fn replay_or_default(
        &mut self,
        menus: &HashMap<String, MenuPlan>,
        now: Instant,
    ) -> Result<MenuStep, IvrError> {
        let plan = self.plan(menus)?;
        if self.plays <= plan.retries {
            self.plays += 1;
            self.deadline = now + plan.timeout;
            return Ok(MenuStep::Play {
                prompt: plan.prompt.clone(),
            });
        }
        match plan.default.clone() {
            Some(target) => self.go(menus, target, now),
            None => Ok(MenuStep::Refuse),
        }
    }

    fn go(
        &mut self,
        menus: &HashMap<String, MenuPlan>,
        target: MenuTarget,
        now: Instant,
    ) -> Result<MenuStep, IvrError> {
        match target {
            MenuTarget::Queue(q) => Ok(MenuStep::Queue(q)),
            MenuTarget::Agent(a) => Ok(MenuStep::Agent(a)),
            MenuTarget::Menu(m) => self.enter(menus, &m, now),
        }
    }

    fn enter(
        &mut self,
        menus: &HashMap<String, MenuPlan>,
        menu: &str,
        now: Instant,
    ) -> Result<MenuStep, IvrError> {
        if self.hops >= MENU_HOPS_MAX {
            return Err(IvrError::TooManyHops);
        }
        let plan = menus.get(menu).ok_or_else(|| IvrError::UnknownMenu {
            menu: menu.to_owned(),
        })?;
        self.menu = menu.to_owned();
        self.hops += 1;
        self.plays = 1;
        self.deadline = now + plan.timeout;
        Ok(MenuStep::Play {
            prompt: plan.prompt.clone(),
        })
    }
}

/// A call in a menu: its session and what its DID gives a queued caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallMenu {
    pub session: MenuSession,
    pub priority: u8,
    pub attributes: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    // The one clock read of these tests: every other instant is t0 plus a Duration.
    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn play(prompt: &str) -> MenuStep {
        MenuStep::Play {
            prompt: prompt.into(),
        }
    }

    /// "main": 1 support, 2 sales, 0 agent 1001, 9 the "more" sub-menu;
    /// 5 s per play, 2 replays, default support. "more": 1 sales, 9 back,
    /// no default.
    fn menus() -> HashMap<String, MenuPlan> {
        let main = MenuPlan {
            prompt: "menu_main".into(),
            options: BTreeMap::from([
                ('1', MenuTarget::Queue("support".into())),
                ('2', MenuTarget::Queue("sales".into())),
                ('0', MenuTarget::Agent("1001".into())),
                ('9', MenuTarget::Menu("more".into())),
            ]),
            timeout: secs(5),
            retries: 2,
            default: Some(MenuTarget::Queue("support".into())),
        };
        let more = MenuPlan {
            prompt: "menu_more".into(),
            options: BTreeMap::from([
                ('1', MenuTarget::Queue("sales".into())),
                ('9', MenuTarget::Menu("main".into())),
            ]),
            timeout: secs(3),
            retries: 0,
            default: None,
        };
        HashMap::from([("main".into(), main), ("more".into(), more)])
    }

    #[test]
    fn a_digit_picks_its_option() {
        let (m, t0) = (menus(), t0());
        let (mut s, step) = MenuSession::start(&m, "main", t0).unwrap();
        assert_eq!(step, play("menu_main"));
        assert_eq!(s.deadline, t0 + secs(5));
        let step = s.on_digit(&m, '2', t0 + secs(2)).unwrap();
        assert_eq!(step, MenuStep::Queue("sales".into()));
        let (mut s, _) = MenuSession::start(&m, "main", t0).unwrap();
        assert_eq!(
            s.on_digit(&m, '0', t0).unwrap(),
            MenuStep::Agent("1001".into())
        );
    }

    #[test]
    fn silence_replays_the_prompt_each_timeout_then_takes_the_default() {
        let (m, t0) = (menus(), t0());
        let (mut s, _) = MenuSession::start(&m, "main", t0).unwrap();
        // Not due yet: nothing happens.
        assert_eq!(s.on_timeout(&m, t0 + secs(4)).unwrap(), None);
        assert_eq!(
            s.on_timeout(&m, t0 + secs(5)).unwrap(),
            Some(play("menu_main"))
        );
        assert_eq!(s.deadline, t0 + secs(10));
        assert_eq!(
            s.on_timeout(&m, t0 + secs(10)).unwrap(),
            Some(play("menu_main"))
        );
        assert_eq!(s.deadline, t0 + secs(15));
        // Two replays done: the third timeout takes the default.
        assert_eq!(
            s.on_timeout(&m, t0 + secs(15)).unwrap(),
            Some(MenuStep::Queue("support".into()))
        );
    }

    #[test]
    fn an_unknown_digit_replays_the_prompt_and_uses_up_a_play() {
        let (m, t0) = (menus(), t0());
        let (mut s, _) = MenuSession::start(&m, "main", t0).unwrap();
        assert_eq!(
            s.on_digit(&m, '7', t0 + secs(1)).unwrap(),
            play("menu_main")
        );
        assert_eq!(s.deadline, t0 + secs(6));
        assert_eq!(
            s.on_digit(&m, '#', t0 + secs(2)).unwrap(),
            play("menu_main")
        );
        assert_eq!(s.deadline, t0 + secs(7));
        // Third wrong key with the replays used up: the default.
        assert_eq!(
            s.on_digit(&m, '8', t0 + secs(3)).unwrap(),
            MenuStep::Queue("support".into())
        );
    }

    #[test]
    fn a_sub_menu_plays_its_own_prompt_with_its_own_timeout_and_can_lead_back() {
        let (m, t0) = (menus(), t0());
        let (mut s, _) = MenuSession::start(&m, "main", t0).unwrap();
        // Replays used in "main" do not count in "more".
        s.on_timeout(&m, t0 + secs(5)).unwrap();
        assert_eq!(
            s.on_digit(&m, '9', t0 + secs(6)).unwrap(),
            play("menu_more")
        );
        assert_eq!(s.menu(), "more");
        assert_eq!(s.deadline, t0 + secs(9));
        assert_eq!(
            s.on_digit(&m, '9', t0 + secs(7)).unwrap(),
            play("menu_main")
        );
        assert_eq!(s.deadline, t0 + secs(12));
        assert_eq!(
            s.on_digit(&m, '2', t0 + secs(8)).unwrap(),
            MenuStep::Queue("sales".into())
        );
    }

    #[test]
    fn a_menu_without_default_refuses_after_its_last_play() {
        let (m, t0) = (menus(), t0());
        let (mut s, _) = MenuSession::start(&m, "more", t0).unwrap();
        assert_eq!(
            s.on_timeout(&m, t0 + secs(3)).unwrap(),
            Some(MenuStep::Refuse)
        );
    }

    #[test]
    fn hopping_between_menus_is_bounded() {
        let (m, t0) = (menus(), t0());
        let (mut s, _) = MenuSession::start(&m, "main", t0).unwrap();
        let mut result = Ok(play("menu_main"));
        for _ in 0..MENU_HOPS_MAX {
            result = s.on_digit(&m, '9', t0);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(IvrError::TooManyHops));
    }

    #[test]
    fn an_unknown_menu_is_an_error_not_a_panic() {
        let err = MenuSession::start(&menus(), "nope", t0()).unwrap_err();
        assert_eq!(
            err,
            IvrError::UnknownMenu {
                menu: "nope".into()
            }
        );
    }
}
