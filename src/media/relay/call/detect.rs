//! Answering-machine detection on one leg of the call: the leg's audio
//! decoded to 8 kHz and pushed to the pure detector ([`crate::media::amd`]);
//! its verdict, then for a machine the end of its greeting, go to the core
//! as events. It stops listening once it has said all it will.

use super::CallMedia;
use crate::media::amd::{Amd, AmdSettings, BeepWatch, GREETING_WAIT_MAX};
use crate::media::command::MediaEvent;
use crate::media::sdp::Codec;
use crate::media::transcode::Transcoder;

pub(in crate::media::relay) struct Detect {
    leg: usize,
    /// Report the greeting's end after a machine verdict.
    beep: bool,
    amd: Amd,
    /// Set once a machine was heard, when `beep`.
    watch: Option<BeepWatch>,
    /// A decoder for the leg's codec (made on its first packet).
    coder: Option<(Codec, Transcoder)>,
}

impl CallMedia {
    pub(super) fn start_detect(&mut self, leg: usize, beep: bool) {
        if leg >= self.legs.len() {
            return;
        }
        self.detect = Some(Box::new(Detect {
            leg,
            beep,
            amd: Amd::new(AmdSettings::default()),
            watch: None,
            coder: None,
        }));
    }

    /// Feeds an RTP packet of leg `n` to the detector listening to it.
    pub(super) fn detect_packet(&mut self, n: usize, packet: &[u8]) {
        let Some(d) = self.detect.as_deref_mut().filter(|d| d.leg == n) else {
            return;
        };
        let Some((codec, pt)) = self.legs[n].codec else {
            return;
        };
        let Ok(p) = rtp_types::RtpPacket::parse(packet) else {
            return;
        };
        if p.payload_type() != pt {
            return;
        }
        if d.coder.as_ref().is_none_or(|(c, _)| *c != codec) {
            d.coder = Transcoder::new(codec, codec).ok().map(|t| (codec, t));
        }
        let Some((_, coder)) = d.coder.as_mut() else {
            return;
        };
        let Ok(pcm) = coder.decode(p.payload()) else {
            return;
        };
        let call = self.call;
        let (event, done) = match d.watch.as_mut() {
            Some(watch) => match watch.push(pcm) {
                true => {
                    let beeped = watch.beeped();
                    (Some(MediaEvent::GreetingOver { call, beeped }), true)
                }
                false => (None, false),
            },
            None => match d.amd.push(pcm) {
                Some(verdict) => {
                    let watch = d.beep && verdict.is_machine();
                    if watch {
                        d.watch = Some(BeepWatch::new(&AmdSettings::default(), GREETING_WAIT_MAX));
                    }
                    (Some(MediaEvent::Answering { call, verdict }), !watch)
                }
                None => (None, false),
            },
        };
        if done {
            self.detect = None;
        }
        if let Some(event) = event {
            tracing::debug!(%call, ?event, "answering-machine detection");
            self.emit(event);
        }
    }
}
