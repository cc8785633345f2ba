//! `[media]` checks: the RTP range, codecs, prompts, music and timers.

use super::*;

impl Cx<'_, '_> {
    pub(super) fn media(&mut self, raw: RawMedia) -> MediaConfig {
        let p = root().key("media");
        let (port_min, port_max) = match raw.rtp_ports.as_deref() {
            None => (20_000, 20_999),
            Some(text) => parse_port_range(text).unwrap_or_else(|| {
                let kind = ProblemKind::InvalidPortRange {
                    value: text.to_owned(),
                };
                self.report(&p.key("rtp_ports"), kind);
                (20_000, 20_999)
            }),
        };
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let rtp_address = self.ip(raw.rtp_address.as_deref(), &p.key("rtp_address"), loopback);
        let advertise_address = self.ip(
            raw.advertise_address.as_deref(),
            &p.key("advertise_address"),
            rtp_address,
        );
        let inactivity_timeout = self.duration(
            raw.inactivity_timeout.as_deref(),
            &p.key("inactivity_timeout"),
            Duration::from_secs(60),
            true,
        );
        let mut codecs = Vec::new();
        for (i, name) in raw.codecs.iter().flatten().enumerate() {
            match Codec::from_name(name) {
                Some(c) if !codecs.contains(&c) => codecs.push(c),
                Some(_) => {}
                None => {
                    let kind = ProblemKind::UnknownChoice {
                        what: "codec",
                        value: name.clone(),
                        expected: Codec::NAMES,
                    };
                    self.report(&p.key("codecs").index(i), kind);
                }
            }
        }
        match raw.codecs {
            None => codecs = vec![Codec::Pcmu, Codec::Pcma, Codec::Opus],
            Some(list) if list.is_empty() => self.report(&p.key("codecs"), ProblemKind::NoCodecs),
            Some(_) => {}
        }
        let announce_every = self.duration(
            raw.announce_every.as_deref(),
            &p.key("announce_every"),
            Duration::from_secs(30),
            false,
        );
        let queue_music = raw.queue_music.unwrap_or_else(|| "hold_music".to_owned());
        if let Err(kind) = check_name(&queue_music) {
            self.report(&p.key("queue_music"), kind);
        }
        let hold_music = raw.hold_music.unwrap_or_else(|| "hold_music".to_owned());
        if let Err(kind) = check_name(&hold_music) {
            self.report(&p.key("hold_music"), kind);
        }
        let prompts = raw.prompts.unwrap_or_else(|| "prompts".to_owned());
        if prompts.is_empty() {
            self.report(&p.key("prompts"), ProblemKind::Empty);
        }
        let recordings = raw.recordings.unwrap_or_else(|| "recordings".to_owned());
        if recordings.is_empty() {
            self.report(&p.key("recordings"), ProblemKind::Empty);
        }
        let recordings_keep =
            self.retention(raw.recordings_keep.as_deref(), &p.key("recordings_keep"));
        if raw.recordings_group.as_deref() == Some("") {
            self.report(&p.key("recordings_group"), ProblemKind::Empty);
        }
        MediaConfig {
            port_min,
            port_max,
            rtp_address,
            advertise_address,
            inactivity_timeout,
            codecs,
            // Beside the dialplan, wherever the switch is started from.
            prompts: beside(&self.file, &prompts),
            queue_music,
            announce_every,
            hold_music,
            recordings: PathBuf::from(recordings),
            recordings_at: self.locate(&p.key("recordings")),
            recordings_keep,
            recordings_group: raw.recordings_group.filter(|g| !g.is_empty()),
            recordings_group_at: self.locate(&p.key("recordings_group")),
        }
    }
}

/// `path` read relative to the directory of the dialplan `file`.
fn beside(file: &std::path::Path, path: &str) -> PathBuf {
    let path = PathBuf::from(path);
    match file.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path,
    }
}
