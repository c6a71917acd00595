//! Every audit action, one variant each. Stored and served as the dotted string
//! (`link.created`), so records written before this enum read back unchanged; `tests` pins
//! each variant's string so a rename cannot slip through.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Declares the enum, its strings and `ALL` from one list, so none of the three can miss one.
macro_rules! audit_actions {
    ($($(#[$doc:meta])* $variant:ident => $s:literal,)*) => {
        /// What was decided or done, as an audit record names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum AuditAction {
            $($(#[$doc])* $variant,)*
        }

        impl AuditAction {
            /// Every action, in declaration order.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            /// The dotted name stored in the trail and shown by the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $s,)*
                }
            }
        }

        impl FromStr for AuditAction {
            type Err = UnknownAction;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok(AuditAction::$variant),)*
                    other => Err(UnknownAction(other.to_string())),
                }
            }
        }
    };
}

audit_actions! {
    // The asset and its ISBN (planner, processor).
    /// The asset's type maps to no role: not a title asset.
    AssetUnmappedType => "asset.unmapped_type",
    /// The asset was deleted in OTMM: its link is withdrawn.
    AssetDeleted => "asset.deleted",
    /// The version is not approved.
    AssetNotApproved => "asset.not_approved",
    /// OTMM has no such asset (dead-letters the message).
    AssetNotFound => "asset.not_found",
    IsbnMissing => "isbn.missing",
    /// Refused, never written anywhere.
    IsbnInvalid => "isbn.invalid",
    /// A newer approval already holds the slot.
    ApprovalStale => "approval.stale",
    /// The version is already linked as it should be.
    ApprovalRepeat => "approval.repeat",
    RoleNotConfigured => "role.not_configured",
    // Links (flows 1, 2 and 4).
    LinkCreated => "link.created",
    LinkReplaced => "link.replaced",
    LinkWithdrawn => "link.withdrawn",
    /// Rights keep the version from every product.
    LinkWithheld => "link.withheld",
    LinkNarrowed => "link.narrowed",
    LinkWidened => "link.widened",
    LinkChanged => "link.changed",
    LinkRestored => "link.restored",
    /// A newer approval landed while this one was being applied.
    LinkSuperseded => "link.superseded",
    LinkNotJpeg => "link.not_jpeg",
    LinkNoProducts => "link.no_products",
    /// The reconciler found the linked resource gone from Consonance.
    LinkResourceMissing => "link.resource_missing",
    // Titles (Consonance side).
    /// Consonance has no product for the ISBN (dead-letters the message).
    TitleNotFound => "title.not_found",
    TitleMapped => "title.mapped",
    TitleUpdated => "title.updated",
    TitleChangeIgnored => "title.change_ignored",
    // Rights (flow 4).
    RightsStillWithdrawn => "rights.still_withdrawn",
    RightsRefreshed => "rights.refreshed",
    RightsExpiring => "rights.expiring",
    RightsSalesChanged => "rights.sales_changed",
    // Identifiers (flow 6).
    IdentifiersAligned => "identifiers.aligned",
    /// OTMM is authoritative: the difference is reported, not written.
    IdentifiersDrift => "identifiers.drift",
    // Asset requests (flow 3).
    RequestCreated => "request.created",
    RequestClosed => "request.closed",
    RequestRedated => "request.redated",
    // Production packages (flow 5).
    PackageStaged => "package.staged",
    PackageFileStaged => "package.file_staged",
    PackageBlocked => "package.blocked",
    PackageCheckPassed => "package.check_passed",
    PackageReleased => "package.released",
    /// A build failed for good (dead-letters the message).
    PackageFailed => "package.failed",
    // Launch readiness (flow 8).
    ReadinessChanged => "readiness.changed",
    ReadinessLinked => "readiness.linked",
    // Messages, dead letters, the reconciler.
    /// The body is not a flow message.
    MessageUnreadable => "message.unreadable",
    MessageDeadLettered => "message.dead_lettered",
    DlqReplayed => "dlq.replayed",
    ReconcileRun => "reconcile.run",
}

impl AuditAction {
    /// The part before the dot: what the action is about (`link` for `link.created`).
    pub fn kind(self) -> &'static str {
        let s = self.as_str();
        s.split_once('.').map_or(s, |(kind, _)| kind)
    }

    /// The part after the dot (`created` for `link.created`): what the plan report shows in
    /// a section that already says what kind of thing it is.
    pub fn verb(self) -> &'static str {
        let s = self.as_str();
        s.split_once('.').map_or(s, |(_, rest)| rest)
    }
}

/// A string that names no audit action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action {0:?}")]
pub struct UnknownAction(pub String);

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: tables format actions with a width.
        f.pad(self.as_str())
    }
}

impl Serialize for AuditAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::AuditAction::{self, *};

    /// Written out by hand, apart from the macro: the stored strings are a contract.
    const TABLE: &[(AuditAction, &str)] = &[
        (AssetUnmappedType, "asset.unmapped_type"),
        (AssetDeleted, "asset.deleted"),
        (AssetNotApproved, "asset.not_approved"),
        (AssetNotFound, "asset.not_found"),
        (IsbnMissing, "isbn.missing"),
        (IsbnInvalid, "isbn.invalid"),
        (ApprovalStale, "approval.stale"),
        (ApprovalRepeat, "approval.repeat"),
        (RoleNotConfigured, "role.not_configured"),
        (LinkCreated, "link.created"),
        (LinkReplaced, "link.replaced"),
        (LinkWithdrawn, "link.withdrawn"),
        (LinkWithheld, "link.withheld"),
        (LinkNarrowed, "link.narrowed"),
        (LinkWidened, "link.widened"),
        (LinkChanged, "link.changed"),
        (LinkRestored, "link.restored"),
        (LinkSuperseded, "link.superseded"),
        (LinkNotJpeg, "link.not_jpeg"),
        (LinkNoProducts, "link.no_products"),
        (LinkResourceMissing, "link.resource_missing"),
        (TitleNotFound, "title.not_found"),
        (TitleMapped, "title.mapped"),
        (TitleUpdated, "title.updated"),
        (TitleChangeIgnored, "title.change_ignored"),
        (RightsStillWithdrawn, "rights.still_withdrawn"),
        (RightsRefreshed, "rights.refreshed"),
        (RightsExpiring, "rights.expiring"),
        (RightsSalesChanged, "rights.sales_changed"),
        (IdentifiersAligned, "identifiers.aligned"),
        (IdentifiersDrift, "identifiers.drift"),
        (RequestCreated, "request.created"),
        (RequestClosed, "request.closed"),
        (RequestRedated, "request.redated"),
        (PackageStaged, "package.staged"),
        (PackageFileStaged, "package.file_staged"),
        (PackageBlocked, "package.blocked"),
        (PackageCheckPassed, "package.check_passed"),
        (PackageReleased, "package.released"),
        (PackageFailed, "package.failed"),
        (ReadinessChanged, "readiness.changed"),
        (ReadinessLinked, "readiness.linked"),
        (MessageUnreadable, "message.unreadable"),
        (MessageDeadLettered, "message.dead_lettered"),
        (DlqReplayed, "dlq.replayed"),
        (ReconcileRun, "reconcile.run"),
    ];

    #[test]
    fn every_action_keeps_its_stored_string() {
        assert_eq!(TABLE.len(), AuditAction::ALL.len(), "a variant is missing from the table");
        for (action, s) in TABLE {
            assert_eq!(action.as_str(), *s);
            assert_eq!(action.to_string(), *s);
            assert_eq!(s.parse::<AuditAction>(), Ok(*action));
            assert_eq!(serde_json::to_value(action).unwrap(), serde_json::json!(s));
            assert_eq!(serde_json::from_value::<AuditAction>(serde_json::json!(s)).unwrap(), *action);
        }
    }

    #[test]
    fn an_unknown_action_is_refused() {
        assert!("link.teleported".parse::<AuditAction>().is_err());
        assert!(serde_json::from_str::<AuditAction>(r#""link.teleported""#).is_err());
    }

    #[test]
    fn display_keeps_a_table_width() {
        assert_eq!(format!("{:<14}|", LinkCreated), "link.created  |");
    }

    #[test]
    fn kind_and_verb_are_the_parts_around_the_dot() {
        assert_eq!(LinkCreated.verb(), "created");
        assert_eq!(PackageCheckPassed.verb(), "check_passed");
        assert_eq!(LinkCreated.kind(), "link");
    }
}
