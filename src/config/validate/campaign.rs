//! `[[campaigns]]` and `[dnc]` checks: names, the queue and trunk they use,
//! mode, window, time zone, attempts, retry delays and the abandon cap.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use std::time::Duration;

use super::super::campaign::{
    AmdConfig, CampaignConfig, DncConfig, MachineAction, AMD_MESSAGE_DEFAULT,
    AMD_MESSAGE_PLAYS_DEFAULT, DNC_LISTS_MAX, INFO_PLAYS_DEFAULT, MAX_ATTEMPTS_MAX,
    PREVIEW_TIMEOUT_DEFAULT, RING_TIMEOUT_DEFAULT, RING_TIMEOUT_MAX, RING_TIMEOUT_MIN,
};
use super::super::raw::{RawAmd, RawCampaign, RawDnc};
use super::super::values::{check_did, check_name};
use super::super::{ProblemKind, TrunkConfig};
use super::{root, Cx, Known};
use crate::dialer::{Mode, Numbering, Retry, Window, Zone};

impl Cx<'_, '_> {
    pub(super) fn campaigns(
        &mut self,
        raws: Vec<(usize, RawCampaign)>,
        known: &Known,
        trunks: &[TrunkConfig],
        declared_trunks: &HashSet<String>,
    ) -> Vec<CampaignConfig> {
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        for (i, raw) in raws {
            let p = root().key("campaigns").index(i);
            self.unique(&raw.name, &p.key("name"), &mut seen);
            if let Err(kind) = check_name(&raw.name) {
                self.report(&p.key("name"), kind);
            }
            if !known.queues.contains(&raw.queue) {
                let queue = raw.queue.clone();
                self.report(&p.key("queue"), ProblemKind::UnknownQueue { queue });
            }
            let trunk = raw.trunk.clone();
            if !declared_trunks.contains(&raw.trunk) {
                self.report(&p.key("trunk"), ProblemKind::UnknownTrunk { trunk });
            } else if trunks
                .iter()
                .any(|t| t.name == raw.trunk && t.outbound.is_none())
            {
                self.report(&p.key("trunk"), ProblemKind::TrunkNotOutbound { trunk });
            }
            if raw.contacts.is_empty() {
                self.report(&p.key("contacts"), ProblemKind::Empty);
            }
            if let Some(Err(kind)) = raw.caller_id.as_deref().map(check_did) {
                self.report(&p.key("caller_id"), kind);
            }
            let mode = match raw.mode.as_deref().map(|m| (m, Mode::from_name(m))) {
                None => Mode::Progressive,
                Some((_, Some(mode))) => mode,
                Some((value, None)) => {
                    let kind = ProblemKind::UnknownChoice {
                        what: "mode",
                        value: value.to_owned(),
                        expected: Mode::NAMES,
                    };
                    self.report(&p.key("mode"), kind);
                    Mode::Progressive
                }
            };
            let window = match raw.window.as_deref() {
                None => Window::DEFAULT,
                Some(w) => Window::parse(w).unwrap_or_else(|| {
                    let value = w.to_owned();
                    self.report(&p.key("window"), ProblemKind::InvalidWindow { value });
                    Window::DEFAULT
                }),
            };
            let timezone = match raw.timezone.as_deref() {
                None => Zone::UTC,
                Some(z) => Zone::parse(z).unwrap_or_else(|| {
                    let value = z.to_owned();
                    self.report(&p.key("timezone"), ProblemKind::InvalidZone { value });
                    Zone::UTC
                }),
            };
            let path = p.key("max_attempts");
            let max_attempts = self.int(raw.max_attempts, &path, 3, 1, MAX_ATTEMPTS_MAX);
            let retry = self.retry(raw.retry.unwrap_or_default(), &p.key("retry"));
            let max_abandon = raw.max_abandon.unwrap_or(0.03);
            if !(max_abandon > 0.0 && max_abandon <= 1.0) {
                let kind = ProblemKind::AbandonOutOfRange { value: max_abandon };
                self.report(&p.key("max_abandon"), kind);
            }
            let ring_timeout = self.ring_timeout(raw.ring_timeout.as_deref(), &p);
            let amd = raw.amd.map(|a| self.amd(a, &p.key("amd")));
            let info_message = raw.info_message;
            if let Some(Err(kind)) = info_message.as_deref().map(check_name) {
                self.report(&p.key("info_message"), kind);
            }
            let info_plays = self.duration(
                raw.info_plays.as_deref(),
                &p.key("info_plays"),
                INFO_PLAYS_DEFAULT,
                true,
            );
            let preview_timeout = self.duration(
                raw.preview_timeout.as_deref(),
                &p.key("preview_timeout"),
                PREVIEW_TIMEOUT_DEFAULT,
                true,
            );
            out.push(CampaignConfig {
                contacts_at: self.locate(&p.key("contacts")),
                name: raw.name,
                queue: raw.queue,
                contacts: PathBuf::from(raw.contacts),
                mode,
                trunk: raw.trunk,
                caller_id: raw.caller_id,
                window,
                timezone,
                max_attempts,
                retry,
                max_abandon: max_abandon.clamp(1e-6, 1.0),
                autostart: raw.autostart.unwrap_or(false),
                ring_timeout,
                blend: raw.blend.unwrap_or(true),
                amd,
                auto_answer: raw.auto_answer.unwrap_or(true),
                preview_timeout,
                info_message,
                info_plays,
                at: self.locate(&p),
            });
        }
        out
    }

    /// The customer's ring time: the regulators' 15 s at least.
    fn ring_timeout(&mut self, raw: Option<&str>, p: &super::FieldPath) -> Duration {
        let path = p.key("ring_timeout");
        let d = self.duration(raw, &path, RING_TIMEOUT_DEFAULT, true);
        if (RING_TIMEOUT_MIN..=RING_TIMEOUT_MAX).contains(&d) {
            return d;
        }
        let kind = ProblemKind::DurationOutOfRange {
            value: raw.unwrap_or_default().to_owned(),
            range: "15s (unanswered calls ring at least 15 s) to 5m",
        };
        self.report(&path, kind);
        RING_TIMEOUT_DEFAULT
    }

    fn amd(&mut self, raw: RawAmd, p: &super::FieldPath) -> AmdConfig {
        let machine = match raw.machine.as_deref() {
            None | Some("hangup") => MachineAction::Hangup,
            Some("message") => MachineAction::Message,
            Some(value) => {
                let kind = ProblemKind::UnknownChoice {
                    what: "machine",
                    value: value.to_owned(),
                    expected: MachineAction::NAMES,
                };
                self.report(&p.key("machine"), kind);
                MachineAction::Hangup
            }
        };
        let message = raw
            .message
            .unwrap_or_else(|| AMD_MESSAGE_DEFAULT.to_owned());
        if let Err(kind) = check_name(&message) {
            self.report(&p.key("message"), kind);
        }
        let path = p.key("message_plays");
        let message_plays = self.duration(
            raw.message_plays.as_deref(),
            &path,
            AMD_MESSAGE_PLAYS_DEFAULT,
            true,
        );
        AmdConfig {
            machine,
            message,
            message_plays,
            at: self.locate(p),
        }
    }

    fn retry(&mut self, raw: super::super::raw::RawRetry, p: &super::FieldPath) -> Retry {
        let d = Retry::default();
        Retry {
            busy: self.duration(raw.busy.as_deref(), &p.key("busy"), d.busy, true),
            no_answer: self.duration(
                raw.no_answer.as_deref(),
                &p.key("no_answer"),
                d.no_answer,
                true,
            ),
            failed: self.duration(raw.failed.as_deref(), &p.key("failed"), d.failed, true),
            machine: self.duration(raw.machine.as_deref(), &p.key("machine"), d.machine, true),
        }
    }

    pub(super) fn dnc(&mut self, raw: RawDnc) -> DncConfig {
        let p = root().key("dnc");
        let mut numbering = Numbering::default();
        if let Some(cc) = raw.country_code {
            let ok = !cc.is_empty() && cc.len() <= 3 && cc.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                let kind = ProblemKind::OutOfRange {
                    value: cc.clone(),
                    min: 1,
                    max: 999,
                };
                self.report(&p.key("country_code"), kind);
            }
            numbering.country_code = cc;
        }
        if let Some(prefix) = raw.trunk_prefix {
            numbering.trunk_prefix = prefix;
        }
        let lists_at = self.locate(&p.key("lists"));
        if raw.lists.len() > DNC_LISTS_MAX {
            let kind = ProblemKind::TooMany {
                count: raw.lists.len(),
                max: DNC_LISTS_MAX,
            };
            self.report(&p.key("lists"), kind);
        }
        for (i, l) in raw.lists.iter().enumerate() {
            if l.is_empty() {
                self.report(&p.key("lists").index(i), ProblemKind::Empty);
            }
        }
        DncConfig {
            lists: raw.lists.into_iter().map(PathBuf::from).collect(),
            numbering,
            lists_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::campaign::{
        AMD_MESSAGE_DEFAULT, AMD_MESSAGE_PLAYS_DEFAULT, PREVIEW_TIMEOUT_DEFAULT,
    };
    use crate::config::{Config, MachineAction};
    use crate::dialer::{Mode, Window};

    const BASE: &str = "[[agents]]\nid = \"1001\"\npassword = \"x\"\nskills = { sales = 5 }\n\
        [[queues]]\nname = \"sales\"\nrequires = \"sales:1\"\n\
        [[trunks]]\nname = \"carrier\"\noutbound = { address = \"127.0.0.1:5070\" }\n\
        [[trunks]]\nname = \"inbound-only\"\nallow_from = [\"127.0.0.1\"]\n";

    fn problems(extra: &str) -> Vec<String> {
        match Config::parse(&format!("{BASE}{extra}"), Path::new("c.toml")) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn the_issue_contract_parses() {
        let text = format!(
            "{BASE}[[campaigns]]\nname = \"renewals\"\nqueue = \"sales\"\n\
             contacts = \"campaigns/renewals.csv\"\nmode = \"predictive\"\ntrunk = \"carrier\"\n\
             caller_id = \"5550300\"\nwindow = \"09:00-20:00\"\nmax_attempts = 4\n\
             retry = {{ busy = \"5m\", no_answer = \"2h\", failed = \"30m\" }}\n\
             max_abandon = 0.02\nautostart = false\n\
             [dnc]\nlists = [\"campaigns/dnc.txt\"]\n"
        );
        let c = Config::parse(&text, Path::new("c.toml")).expect("valid");
        let k = &c.campaigns[0];
        assert_eq!(k.mode, Mode::Predictive);
        assert_eq!(k.window, Window::parse("09:00-20:00").unwrap());
        assert_eq!(k.max_attempts, 4);
        assert_eq!(k.retry.busy, Duration::from_secs(300));
        assert_eq!(k.retry.no_answer, Duration::from_secs(7_200));
        assert_eq!(k.max_abandon, 0.02);
        assert_eq!(k.ring_timeout, Duration::from_secs(20), "the default");
        assert_eq!(k.contacts_at.line, 17);
        assert_eq!(c.dnc.lists.len(), 1);
        assert_eq!(c.relative(&k.contacts), Path::new("campaigns/renewals.csv"));
    }

    #[test]
    fn amd_settings_parse_and_bad_ones_name_their_field() {
        let campaign = "[[campaigns]]\nname = \"x\"\nqueue = \"sales\"\ncontacts = \"a.csv\"\n\
            trunk = \"carrier\"\nretry = { machine = \"4h\" }\n";
        let text = format!("{BASE}{campaign}amd = {{ machine = \"message\" }}\n");
        let c = Config::parse(&text, Path::new("c.toml")).expect("valid");
        let k = &c.campaigns[0];
        let amd = k.amd.as_ref().expect("amd on");
        assert_eq!(amd.machine, MachineAction::Message);
        assert_eq!(amd.message, AMD_MESSAGE_DEFAULT);
        assert_eq!(amd.message_plays, AMD_MESSAGE_PLAYS_DEFAULT);
        assert_eq!(k.retry.machine, Duration::from_secs(4 * 3_600));
        let text = format!("{BASE}{campaign}amd = {{}}\n");
        let c = Config::parse(&text, Path::new("c.toml")).expect("valid");
        assert_eq!(
            c.campaigns[0].amd.as_ref().unwrap().machine,
            MachineAction::Hangup
        );
        let c = Config::parse(&format!("{BASE}{campaign}"), Path::new("c.toml")).unwrap();
        assert_eq!(c.campaigns[0].amd, None, "off unless asked for");

        let got = problems(&format!(
            "{campaign}amd = {{ machine = \"voicemail\", message = \"../x\", message_plays = \"0s\" }}\n"
        ));
        assert_eq!(got.len(), 3, "{got:?}");
        for (line, field) in got
            .iter()
            .zip(["amd.machine", "amd.message", "amd.message_plays"])
        {
            assert!(
                line.starts_with("c.toml:20:") && line.contains(field),
                "{line}"
            );
        }
        let got = problems(&format!("{campaign}amd = {{ beep = true }}\n"));
        assert!(got.len() == 1 && got[0].contains("beep"), "{got:?}");
    }

    #[test]
    fn preview_timeout_has_a_default_and_refuses_zero() {
        let campaign = "[[campaigns]]\nname = \"x\"\nqueue = \"sales\"\ncontacts = \"a.csv\"\n\
            trunk = \"carrier\"\n";
        let c = Config::parse(&format!("{BASE}{campaign}"), Path::new("c.toml")).unwrap();
        assert_eq!(c.campaigns[0].preview_timeout, PREVIEW_TIMEOUT_DEFAULT);
        let text = format!("{BASE}{campaign}preview_timeout = \"2m\"\n");
        let c = Config::parse(&text, Path::new("c.toml")).unwrap();
        assert_eq!(c.campaigns[0].preview_timeout, Duration::from_secs(120));
        assert_eq!(c.campaigns[0].info_message, None, "campaign_info if there");
        assert_eq!(c.campaigns[0].info_plays, Duration::from_secs(11));
        let got = problems(&format!(
            "{campaign}info_message = \"../x\"\ninfo_plays = \"0s\"\n"
        ));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].contains("info_message") && got[1].contains("info_plays"),
            "{got:?}"
        );
        let got = problems(&format!("{campaign}preview_timeout = \"0s\"\n"));
        assert!(
            got.len() == 1
                && got[0].starts_with("c.toml:19:")
                && got[0].contains("preview_timeout"),
            "{got:?}"
        );
    }

    #[test]
    fn a_machine_message_without_its_wav_is_refused_at_load() {
        let dir = std::env::temp_dir().join(format!("switchyard-amd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("left.wav"), b"RIFF").unwrap();
        let text = |machine: &str, message: &str| {
            format!(
                "{BASE}[[campaigns]]\nname = \"x\"\nqueue = \"sales\"\ncontacts = \"a.csv\"\n\
                 trunk = \"carrier\"\namd = {{ machine = \"{machine}\", message = \"{message}\" }}\n\
                 [media]\nrtp_ports = \"20000-20009\"\nprompts = \"{}\"\n",
                dir.display()
            )
        };
        let parse = |t: String| Config::parse(&t, Path::new("c.toml")).unwrap();
        assert!(parse(text("message", "left")).check_prompts().is_ok());
        // An information message named must be there too.
        let named = text("hangup", "left").replace("[media]", "info_message = \"gone\"\n[media]");
        let err = parse(named).check_prompts().unwrap_err();
        assert_eq!(err.problems()[0].field, "campaigns[0].info_message");
        // Hanging up plays nothing: no prompt to check.
        assert!(parse(text("hangup", "gone")).check_prompts().is_ok());
        let err = parse(text("message", "gone")).check_prompts().unwrap_err();
        let p = &err.problems()[0];
        assert_eq!((p.line, p.field.as_str()), (19, "campaigns[0].amd.message"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_fields_name_file_line_and_field() {
        let got = problems(
            "[[campaigns]]\nname = \"x\"\nqueue = \"nope\"\ncontacts = \"a.csv\"\n\
             trunk = \"inbound-only\"\nmode = \"psychic\"\nwindow = \"9-5\"\n\
             timezone = \"Mars/Base\"\nmax_attempts = 0\nmax_abandon = 1.5\n\
             retry = { busy = \"soon\" }\nring_timeout = \"10s\"\n",
        );
        let expect = [
            ("c.toml:16:", "campaigns[0].queue"),
            ("c.toml:18:", "campaigns[0].trunk"),
            ("c.toml:19:", "campaigns[0].mode"),
            ("c.toml:20:", "campaigns[0].window"),
            ("c.toml:21:", "campaigns[0].timezone"),
            ("c.toml:22:", "campaigns[0].max_attempts"),
            ("c.toml:23:", "campaigns[0].max_abandon"),
            ("c.toml:24:", "campaigns[0].retry.busy"),
            ("c.toml:25:", "campaigns[0].ring_timeout"),
        ];
        assert_eq!(got.len(), expect.len(), "{got:?}");
        for ((at, field), line) in expect.iter().zip(&got) {
            assert!(
                line.starts_with(at) && line.contains(field),
                "{line} vs {at} {field}"
            );
        }
        let got = problems("[[campaigns]]\nname = \"x\"\nqueue = \"sales\"\ncontacts = \"a.csv\"\ntrunk = \"gone\"\n");
        assert!(
            got.len() == 1 && got[0].contains("no trunk is named"),
            "{got:?}"
        );
        let got = problems("[dnc]\nlist = []\n");
        assert!(got.len() == 1 && got[0].contains("list"), "{got:?}");
    }

    #[test]
    fn lists_are_read_beside_the_dialplan_and_bad_rows_are_named() {
        let dir = std::env::temp_dir().join(format!("switchyard-campaign-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("campaigns")).expect("temp dir");
        std::fs::write(
            dir.join("campaigns/list.csv"),
            "number,name,timezone\n5550301,Ann,UTC\nbad number,Bo,UTC\n",
        )
        .expect("write list");
        std::fs::write(dir.join("campaigns/dnc.txt"), "5550309\n").expect("write dnc");
        let text = format!(
            "{BASE}[[campaigns]]\nname = \"x\"\nqueue = \"sales\"\ncontacts = \"campaigns/list.csv\"\n\
             trunk = \"carrier\"\n[dnc]\nlists = [\"campaigns/dnc.txt\", \"campaigns/missing.txt\"]\n"
        );
        let file = dir.join("plan.toml");
        let c = Config::parse(&text, &file).expect("valid");
        let err = c
            .check_campaign_files()
            .expect_err("a bad row and a missing list");
        let got: Vec<String> = err.problems().iter().map(|p| p.to_string()).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got.iter()
                .any(|l| l.contains("list.csv:3:") && l.contains("number")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|l| l.contains("plan.toml:20:") && l.contains("dnc.lists[1]")),
            "{got:?}"
        );
        std::fs::write(dir.join("campaigns/list.csv"), "number\n5550301\n").expect("write list");
        std::fs::write(dir.join("campaigns/missing.txt"), "+44 20 7946 0958\n").expect("write");
        let dnc = c.check_campaign_files().expect("all readable");
        assert!(dnc.contains("+15550309") && dnc.contains("+442079460958"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
