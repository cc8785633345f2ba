//! One fork of a B leg as the call sees it: an INVITE to one contact, and
//! where its client transaction (RFC 3261 §17.1.1) and our CANCEL of it
//! (§9.1) stand. Pure: the switch reports what arrived and asks what to
//! do; it keeps the fork's SIP data (URI, branch, dialog) beside it.

/// Where a fork stands, named after the INVITE client transaction (RFC
/// 3261 §17.1.1, RFC 6026) and CANCEL (§9.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForkState {
    /// The INVITE is out; nothing but `100 Trying` came back (§17.1.1.2).
    #[default]
    Calling,
    /// A provisional response arrived: it rings, and may be CANCELled.
    Proceeding,
    /// A final non-2xx response arrived (or the INVITE could not be sent),
    /// not yet told to the call machine.
    Completed,
    /// A 2xx formed the dialog (RFC 6026 Accepted).
    Accepted,
    /// The call machine was told the fork failed: by a final response, or
    /// by Timer B without one (then `provisional` says whether it had
    /// rung, which decides how a dropped B leg CANCELs it).
    Terminated {
        final_response: bool,
        provisional: bool,
    },
    /// We gave up on it before any provisional: the CANCEL waits for one
    /// (§9.1 forbids sending it earlier).
    CancelOwed,
    /// We gave up on it and sent the CANCEL.
    Cancelling,
    /// Given up on, and its final response arrived: nothing is owed.
    Cancelled,
}

/// What a B leg being dropped owes a fork (see [`ForkState::on_drop`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDrop {
    /// Nothing: it ended, answered, or has its CANCEL already.
    Nothing,
    /// A CANCEL now: it has rung.
    Cancel,
    /// A CANCEL as soon as it sends a provisional.
    CancelLater,
}

impl ForkState {
    /// Still live for the call machine: it may yet answer or fail.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            ForkState::Calling | ForkState::Proceeding | ForkState::Completed
        )
    }

    /// We gave up on it: its responses count for nothing.
    pub fn is_withdrawn(self) -> bool {
        matches!(
            self,
            ForkState::CancelOwed | ForkState::Cancelling | ForkState::Cancelled
        )
    }

    /// A provisional response arrived. True when a CANCEL was owed and is
    /// to be sent now.
    pub fn on_provisional(&mut self) -> bool {
        match *self {
            ForkState::Calling => *self = ForkState::Proceeding,
            ForkState::CancelOwed => {
                *self = ForkState::Cancelling;
                return true;
            }
            ForkState::Terminated {
                final_response,
                provisional: false,
            } => {
                *self = ForkState::Terminated {
                    final_response,
                    provisional: true,
                }
            }
            _ => {}
        }
        false
    }

    /// We give up on a live fork. True when the CANCEL goes now (it has
    /// rung), false when it is owed until a provisional arrives.
    pub fn withdraw(&mut self) -> bool {
        match *self {
            ForkState::Calling => {
                *self = ForkState::CancelOwed;
                false
            }
            ForkState::Proceeding => {
                *self = ForkState::Cancelling;
                true
            }
            _ => false,
        }
    }

    /// Our CANCEL went out.
    pub fn on_cancel_sent(&mut self) {
        if self.is_live() || *self == ForkState::CancelOwed {
            *self = ForkState::Cancelling;
        }
    }

    /// A final response that forms no dialog arrived: a non-2xx, a 2xx to
    /// a fork we gave up on, or the INVITE could not be sent at all.
    pub fn on_final_response(&mut self) {
        *self = match *self {
            ForkState::Calling | ForkState::Proceeding => ForkState::Completed,
            ForkState::CancelOwed | ForkState::Cancelling => ForkState::Cancelled,
            ForkState::Terminated { provisional, .. } => ForkState::Terminated {
                final_response: true,
                provisional,
            },
            other => other,
        };
    }

    /// A 2xx formed the fork's dialog.
    pub fn on_answer(&mut self) {
        if !self.is_withdrawn() {
            *self = ForkState::Accepted;
        }
    }

    /// The fork failed (its final response, or Timer B). True the first
    /// time, when the call machine is to be told.
    pub fn on_failed(&mut self) -> bool {
        let provisional = match *self {
            ForkState::Calling => false,
            ForkState::Proceeding => true,
            ForkState::Completed => {
                *self = ForkState::Terminated {
                    final_response: true,
                    provisional: false,
                };
                return true;
            }
            _ => return false,
        };
        *self = ForkState::Terminated {
            final_response: false,
            provisional,
        };
        true
    }

    /// What dropping the B leg owes this fork (RFC 3261 §9.1): one that
    /// rang without a final response is CANCELled now, one that has not
    /// rung yet once it does.
    pub fn on_drop(self) -> OnDrop {
        match self {
            ForkState::Proceeding
            | ForkState::Terminated {
                final_response: false,
                provisional: true,
            } => OnDrop::Cancel,
            ForkState::Calling
            | ForkState::CancelOwed
            | ForkState::Terminated {
                final_response: false,
                provisional: false,
            } => OnDrop::CancelLater,
            _ => OnDrop::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fork_rings_then_answers() {
        let mut f = ForkState::default();
        assert_eq!(f, ForkState::Calling);
        assert!(!f.on_provisional());
        assert_eq!(f, ForkState::Proceeding);
        assert!(f.is_live());
        f.on_answer();
        assert_eq!(f, ForkState::Accepted);
        assert!(!f.is_live() && !f.is_withdrawn());
        assert_eq!(f.on_drop(), OnDrop::Nothing);
        assert!(!f.withdraw());
        assert!(!f.on_failed());
    }

    #[test]
    fn a_busy_fork_completes_then_terminates_once() {
        let mut f = ForkState::Proceeding;
        f.on_final_response();
        assert_eq!(f, ForkState::Completed);
        assert!(f.is_live(), "the call machine is told next");
        assert!(f.on_failed());
        assert_eq!(
            f,
            ForkState::Terminated {
                final_response: true,
                provisional: false
            }
        );
        assert!(!f.on_failed());
        assert_eq!(f.on_drop(), OnDrop::Nothing);
    }

    #[test]
    fn a_fork_that_times_out_is_still_owed_a_cancel_on_drop() {
        let mut rang = ForkState::Proceeding;
        assert!(rang.on_failed());
        assert!(!rang.is_live());
        assert_eq!(rang.on_drop(), OnDrop::Cancel);
        let mut silent = ForkState::Calling;
        assert!(silent.on_failed());
        assert_eq!(silent.on_drop(), OnDrop::CancelLater);
    }

    #[test]
    fn a_cancel_waits_for_the_first_provisional() {
        let mut f = ForkState::Calling;
        assert!(!f.withdraw());
        assert_eq!(f, ForkState::CancelOwed);
        assert!(f.is_withdrawn() && !f.is_live());
        assert_eq!(f.on_drop(), OnDrop::CancelLater);
        assert!(f.on_provisional(), "the owed CANCEL goes now");
        f.on_cancel_sent();
        assert_eq!(f, ForkState::Cancelling);
        assert!(!f.on_provisional(), "one CANCEL only");
        assert_eq!(f.on_drop(), OnDrop::Nothing);
        f.on_final_response();
        assert_eq!(f, ForkState::Cancelled);
        assert!(!f.on_failed());
    }

    #[test]
    fn a_ringing_fork_is_cancelled_at_once_and_a_late_2xx_does_not_answer_it() {
        let mut f = ForkState::Proceeding;
        assert!(f.withdraw());
        f.on_cancel_sent();
        assert_eq!(f, ForkState::Cancelling);
        f.on_answer();
        assert_eq!(f, ForkState::Cancelling);
        f.on_final_response();
        assert_eq!(f, ForkState::Cancelled);
        assert_eq!(f.on_drop(), OnDrop::Nothing);
    }
}
