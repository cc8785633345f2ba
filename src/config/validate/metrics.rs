//! `[metrics]` checks: whether each agent gets its own state series, and
//! the interval the staffing estimate and windowed figures look back over.

use super::super::metrics::{
    MetricsConfig, METRICS_INTERVAL_DEFAULT, METRICS_INTERVAL_MAX, METRICS_INTERVAL_MIN,
};
use super::super::raw::RawMetrics;
use super::super::ProblemKind;
use super::{root, Cx};

impl Cx<'_, '_> {
    pub(super) fn metrics(&mut self, raw: RawMetrics) -> MetricsConfig {
        let p = root().key("metrics");
        let path = p.key("interval");
        let mut interval = self.duration(
            raw.interval.as_deref(),
            &path,
            METRICS_INTERVAL_DEFAULT,
            true,
        );
        if !(METRICS_INTERVAL_MIN..=METRICS_INTERVAL_MAX).contains(&interval) {
            let value = raw.interval.unwrap_or_default();
            let range = "15s..=24h";
            self.report(&path, ProblemKind::DurationOutOfRange { value, range });
            interval = METRICS_INTERVAL_DEFAULT;
        }
        MetricsConfig {
            agent_state: raw.agent_state.unwrap_or(true),
            interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::{Config, METRICS_INTERVAL_DEFAULT};

    fn problems(text: &str) -> Vec<String> {
        match Config::parse(text, Path::new("m.toml")) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn without_the_section_every_agent_has_a_series_over_15_minutes() {
        let c = Config::parse("", Path::new("m.toml")).expect("valid");
        assert!(c.metrics.agent_state);
        assert_eq!(c.metrics.interval, METRICS_INTERVAL_DEFAULT);
        let text = "[metrics]\nagent_state = false\ninterval = \"30m\"\n";
        let c = Config::parse(text, Path::new("m.toml")).expect("valid");
        assert!(!c.metrics.agent_state);
        assert_eq!(c.metrics.interval, Duration::from_secs(1800));
    }

    #[test]
    fn a_wrong_type_a_short_interval_and_a_typo_name_file_line_and_field() {
        let got = problems("[metrics]\nagent_state = \"no\"\n");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("m.toml:2:"), "{got:?}");
        assert!(got[0].contains("metrics.agent_state"), "{got:?}");
        let got = problems("[metrics]\n\ninterval = \"5s\"\n");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("m.toml:3:") && got[0].contains("metrics.interval"),
            "{got:?}"
        );
        assert!(got[0].contains("15s..=24h"), "{got:?}");
        let got = problems("[metrics]\nagent_states = true\n");
        assert!(got.len() == 1 && got[0].contains("agent_states"), "{got:?}");
    }
}
