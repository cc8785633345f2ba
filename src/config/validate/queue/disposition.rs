//! Disposition checks of a queue: the codes, whether one is required after
//! each call, and how long a wrap-up may wait for it.

use std::time::Duration;

use super::super::super::values::check_name;
use super::super::super::*;
use super::super::Cx;
use crate::config::locate::FieldPath;

/// Codes one queue may list; `*49<n>` takes n in 1..=this.
pub const DISPOSITIONS_MAX: usize = 99;
/// The longest a wrap-up may wait for a code by default.
const WRAP_UP_MAX_DEFAULT: Duration = Duration::from_secs(120);

/// A queue's validated disposition settings.
pub(in crate::config::validate) struct Dispositions {
    pub codes: Vec<String>,
    pub required: bool,
    pub wrap_up_max: Duration,
}

impl Cx<'_, '_> {
    pub(in crate::config::validate) fn dispositions(
        &mut self,
        p: &FieldPath,
        codes: Vec<String>,
        required: Option<bool>,
        wrap_up_max: Option<&str>,
        wrap_up: Duration,
    ) -> Dispositions {
        if codes.len() > DISPOSITIONS_MAX {
            let kind = ProblemKind::TooMany {
                count: codes.len(),
                max: DISPOSITIONS_MAX,
            };
            self.report(&p.key("dispositions"), kind);
        }
        let mut kept: Vec<String> = Vec::new();
        for (j, code) in codes.into_iter().enumerate().take(DISPOSITIONS_MAX) {
            let path = p.key("dispositions").index(j);
            if let Err(kind) = check_name(&code) {
                self.report(&path, kind);
            } else if code == "none" {
                // `none` is what a wrap-up that timed out records.
                let kind = ProblemKind::InvalidName {
                    value: code,
                    rule: "\"none\" is reserved for a missing code",
                };
                self.report(&path, kind);
            } else if kept.contains(&code) {
                self.report(&path, ProblemKind::DuplicateDisposition { value: code });
            } else {
                kept.push(code);
            }
        }
        let required = required.unwrap_or(false);
        if required && kept.is_empty() {
            self.report(
                &p.key("disposition_required"),
                ProblemKind::DispositionsMissing,
            );
        }
        let max_path = p.key("wrap_up_max");
        let max = self.duration(
            wrap_up_max,
            &max_path,
            WRAP_UP_MAX_DEFAULT.max(wrap_up),
            true,
        );
        if max < wrap_up {
            self.report(&max_path, ProblemKind::WrapUpMaxTooShort { max, wrap_up });
        }
        Dispositions {
            codes: kept,
            required,
            wrap_up_max: max,
        }
    }
}
