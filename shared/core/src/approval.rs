//! Which approval is current. Events arrive late, twice and out of order; these rules make
//! the outcome independent of arrival order.
//!
//! - Same asset: the higher version wins; the same version is a repeat.
//! - Another asset for the same role (a new design uploaded as a new asset): the later
//!   approval wins; on equal time the current one stays, so replays change nothing.

use crate::ids::AssetId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub asset_id: AssetId,
    pub version: u32,
    pub approved_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Supersession {
    /// Nothing was current, or the incoming approval is newer: apply it.
    Replaces,
    /// The same asset version again: nothing to do.
    Repeat,
    /// Older than what is current: ignore, and say so in the audit.
    Stale,
}

pub fn supersedes(current: Option<&Approval>, incoming: &Approval) -> Supersession {
    let Some(cur) = current else { return Supersession::Replaces };
    if cur.asset_id == incoming.asset_id {
        return match incoming.version.cmp(&cur.version) {
            std::cmp::Ordering::Greater => Supersession::Replaces,
            std::cmp::Ordering::Equal => Supersession::Repeat,
            std::cmp::Ordering::Less => Supersession::Stale,
        };
    }
    if incoming.approved_at > cur.approved_at { Supersession::Replaces } else { Supersession::Stale }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn approval(asset: u8, version: u32, minute: i64) -> Approval {
        Approval {
            asset_id: AssetId::parse(&format!("{:040x}", asset)).unwrap(),
            version,
            approved_at: DateTime::from_timestamp(1_700_000_000 + minute * 60, 0).unwrap(),
        }
    }

    #[test]
    fn version_three_after_four_is_stale() {
        let v4 = approval(1, 4, 10);
        let v3 = approval(1, 3, 5);
        assert_eq!(supersedes(Some(&v4), &v3), Supersession::Stale);
        assert_eq!(supersedes(Some(&v3), &v4), Supersession::Replaces);
        assert_eq!(supersedes(Some(&v4), &v4), Supersession::Repeat);
        assert_eq!(supersedes(None, &v3), Supersession::Replaces);
    }

    #[test]
    fn another_asset_wins_only_when_approved_later() {
        let old_design = approval(1, 7, 10);
        let new_design = approval(2, 1, 20);
        assert_eq!(supersedes(Some(&old_design), &new_design), Supersession::Replaces);
        assert_eq!(supersedes(Some(&new_design), &old_design), Supersession::Stale);
    }

    fn arb_approval() -> impl Strategy<Value = Approval> {
        (0u8..3, 1u32..6, 0i64..50).prop_map(|(a, v, m)| approval(a, v, m))
    }

    proptest! {
        /// Folding any arrival order of the same approvals ends on the same current approval,
        /// provided versions of one asset are approved in order (as OTMM does).
        #[test]
        fn arrival_order_does_not_change_the_outcome(mut events in prop::collection::vec(arb_approval(), 1..12), seed in any::<u64>()) {
            // Make versions of one asset approved in version order, as in OTMM.
            for e in events.iter_mut() {
                let minute = i64::from(e.version) * 100 + i64::from(e.asset_id.as_str().as_bytes()[39]);
                e.approved_at = DateTime::from_timestamp(1_700_000_000 + minute * 60, 0).unwrap();
            }
            let fold = |evs: &[Approval]| {
                let mut cur: Option<Approval> = None;
                for e in evs {
                    if supersedes(cur.as_ref(), e) == Supersession::Replaces {
                        cur = Some(e.clone());
                    }
                }
                cur
            };
            let forward = fold(&events);
            let mut shuffled = events.clone();
            // Deterministic shuffle from the seed.
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            prop_assert_eq!(forward, fold(&shuffled));
        }

        #[test]
        fn a_replacing_approval_is_never_replaced_back(a in arb_approval(), b in arb_approval()) {
            if supersedes(Some(&a), &b) == Supersession::Replaces {
                prop_assert_ne!(supersedes(Some(&b), &a), Supersession::Replaces);
            }
        }
    }
}
