//! `[overload]` checks: every mark in range, each low mark below its high
//! mark, `calm` and `retry_after` of at least a second's use.

use std::time::Duration;

use super::super::overload::{OverloadConfig, BACKLOG_MARK_MAX, OVERLOAD_PERIOD_MAX};
use super::super::raw::RawOverload;
use super::super::ProblemKind;
use super::{root, Cx};
use crate::sip::limits::TRANSACTIONS_MAX;

impl Cx<'_, '_> {
    pub(super) fn overload(&mut self, raw: RawOverload) -> OverloadConfig {
        let p = root().key("overload");
        let d = OverloadConfig::default();
        let backlog_high = self.int(
            raw.backlog_high,
            &p.key("backlog_high"),
            d.backlog_high,
            1,
            BACKLOG_MARK_MAX,
        );
        let backlog_low = self.int(
            raw.backlog_low,
            &p.key("backlog_low"),
            d.backlog_low,
            0,
            BACKLOG_MARK_MAX,
        );
        let tx_max = TRANSACTIONS_MAX as i64;
        let transactions_high = self.int(
            raw.transactions_high,
            &p.key("transactions_high"),
            d.transactions_high,
            1,
            tx_max,
        );
        let transactions_low = self.int(
            raw.transactions_low,
            &p.key("transactions_low"),
            d.transactions_low,
            0,
            tx_max,
        );
        let lag_high = self.duration(
            raw.lag_high.as_deref(),
            &p.key("lag_high"),
            d.lag_high,
            true,
        );
        let lag_low = self.duration(raw.lag_low.as_deref(), &p.key("lag_low"), d.lag_low, false);
        let calm = self.period(raw.calm.as_deref(), "calm", d.calm);
        let retry_after = self.period(raw.retry_after.as_deref(), "retry_after", d.retry_after);
        let mut c = OverloadConfig {
            backlog_high,
            backlog_low,
            lag_high,
            lag_low,
            transactions_high,
            transactions_low,
            calm,
            retry_after,
        };
        // A low mark left out follows a lowered high mark down.
        if raw.backlog_low.is_none() {
            c.backlog_low = c.backlog_low.min(c.backlog_high / 10);
        }
        if raw.transactions_low.is_none() {
            c.transactions_low = c.transactions_low.min(c.transactions_high / 4 * 3);
        }
        if raw.lag_low.is_none() {
            c.lag_low = c.lag_low.min(c.lag_high / 10);
        }
        if c.backlog_low >= c.backlog_high {
            self.marks(
                &p.key("backlog_low"),
                c.backlog_low,
                "backlog_high",
                c.backlog_high,
            );
        }
        if c.transactions_low >= c.transactions_high {
            let high = c.transactions_high;
            self.marks(
                &p.key("transactions_low"),
                c.transactions_low,
                "transactions_high",
                high,
            );
        }
        if c.lag_low >= c.lag_high {
            let kind = ProblemKind::MarksOrder {
                low: format!("{:?}", c.lag_low),
                high_field: "lag_high",
                high: format!("{:?}", c.lag_high),
            };
            self.report(&p.key("lag_low"), kind);
        }
        c
    }

    fn marks(&mut self, path: &super::FieldPath, low: u32, high_field: &'static str, high: u32) {
        let kind = ProblemKind::MarksOrder {
            low: low.to_string(),
            high_field,
            high: high.to_string(),
        };
        self.report(path, kind);
    }

    /// A duration of 1 s up to an hour.
    fn period(&mut self, value: Option<&str>, key: &str, default: Duration) -> Duration {
        let path = root().key("overload").key(key);
        let d = self.duration(value, &path, default, true);
        if (Duration::from_secs(1)..=OVERLOAD_PERIOD_MAX).contains(&d) {
            return d;
        }
        let value = value.unwrap_or_default().to_owned();
        let range = "1s..=1h";
        self.report(&path, ProblemKind::DurationOutOfRange { value, range });
        default
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::{Config, OverloadConfig};

    fn problems(text: &str) -> Vec<String> {
        match Config::parse(text, Path::new("o.toml")) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn without_the_section_the_defaults_hold_and_low_marks_follow_high_ones() {
        let c = Config::parse("", Path::new("o.toml")).expect("valid");
        assert_eq!(c.overload, OverloadConfig::default());
        let c = Config::parse(
            "[overload]\ntransactions_high = 1\nlag_high = \"1s\"\ncalm = \"3s\"\n",
            Path::new("o.toml"),
        )
        .expect("valid");
        assert_eq!(
            (c.overload.transactions_high, c.overload.transactions_low),
            (1, 0)
        );
        assert_eq!(c.overload.lag_low, Duration::from_millis(50));
        assert_eq!(c.overload.calm, Duration::from_secs(3));
    }

    #[test]
    fn a_low_mark_above_its_high_mark_and_bad_values_name_file_line_and_field() {
        let got = problems("[overload]\nbacklog_high = 100\nbacklog_low = 100\n");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("o.toml:3:") && got[0].contains("overload.backlog_low"),
            "{got:?}"
        );
        assert!(got[0].contains("backlog_high"), "{got:?}");
        let got = problems("[overload]\nlag_high = \"10ms\"\nlag_low = \"20ms\"\n");
        assert!(
            got.len() == 1 && got[0].contains("overload.lag_low"),
            "{got:?}"
        );
        let got = problems("[overload]\n\nretry_after = \"0s\"\n");
        assert!(
            got.len() == 1
                && got[0].starts_with("o.toml:3:")
                && got[0].contains("overload.retry_after"),
            "{got:?}"
        );
        let got = problems("[overload]\ncalm = \"2h\"\n");
        assert!(got.len() == 1 && got[0].contains("1s..=1h"), "{got:?}");
        let got = problems("[overload]\ntransactions_high = -1\n");
        assert!(
            got.len() == 1 && got[0].contains("overload.transactions_high"),
            "{got:?}"
        );
        let got = problems("[overload]\nbacklog = 5\n");
        assert!(got.len() == 1 && got[0].contains("backlog"), "{got:?}");
    }
}
