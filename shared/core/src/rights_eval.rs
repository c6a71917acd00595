//! Flow 4: do an asset version's usage rights (OTMM) cover the products it would be linked to
//! (Consonance sales rights), on a given day?
//!
//! A product is covered when
//! - every country it is for sale in lies inside the asset's territory (both sides may be
//!   "worldwide except ..."; [`uncovered_territory`] computes the difference exactly),
//! - every channel the asset would be used on for it is allowed by the asset (the role's
//!   `[rights.role_channels]`, else the product form's `[rights.default_channels]`),
//! - the asset's validity window holds (not withdrawn in OTMM, started, not expired, not
//!   embargoed).
//!
//! [`evaluate`] answers for a set of products: which are covered, and for the others every
//! reason (not just the first), so the audit trail and the OTMM flag can say why.

use crate::config::{MappingConfig, ProductForm};
use crate::ids::ProductId;
use crate::plan::ProductFacts;
use crate::rights::{AssetRights, Channel, ProductSalesRights, Territory};
use crate::role::AssetRole;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Why an asset version does not cover a product. Serialised with a `reason` tag, e.g.
/// `{"reason":"expired","expiry":"2026-11-30"}` (kept on links and in audit data: a stable shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RightsReason {
    /// OTMM's own `expired` flag (or a restriction set by hand).
    WithdrawnInOtmm,
    /// Rights start later.
    NotYetValid {
        start: NaiveDate,
    },
    /// The last day of use has passed.
    Expired {
        expiry: NaiveDate,
    },
    Embargoed {
        until: NaiveDate,
    },
    /// Channels the asset would be used on for this product but may not be.
    ChannelNotAllowed {
        channels: BTreeSet<Channel>,
    },
    /// The asset is restricted to some channels, and neither the role nor the product form has
    /// configured channels, so coverage cannot be shown.
    ChannelsUnknown {
        form: Option<String>,
    },
    /// Where the product is for sale but the asset may not be shown (compact territory form:
    /// `FR DE`, or `WORLD -GB -IE` for "everywhere but GB and IE").
    TerritoryNotCovered {
        uncovered: Territory,
    },
}

impl fmt::Display for RightsReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RightsReason::WithdrawnInOtmm => f.write_str("marked expired in OTMM"),
            RightsReason::NotYetValid { start } => write!(f, "not valid before {start}"),
            RightsReason::Expired { expiry } => write!(f, "expired {expiry}"),
            RightsReason::Embargoed { until } => write!(f, "embargoed until {until}"),
            RightsReason::ChannelNotAllowed { channels } => {
                let c: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
                write!(f, "channel {} not allowed", c.join(","))
            }
            RightsReason::ChannelsUnknown { form } => {
                write!(f, "no channels configured for form {}", form.as_deref().unwrap_or("?"))
            }
            RightsReason::TerritoryNotCovered { uncovered } => {
                write!(f, "sold in {uncovered} where the asset may not be shown")
            }
        }
    }
}

impl RightsReason {
    /// Reasons that hold for every product alike (the asset's own state, not the product's).
    pub fn is_asset_wide(&self) -> bool {
        matches!(
            self,
            RightsReason::WithdrawnInOtmm
                | RightsReason::NotYetValid { .. }
                | RightsReason::Expired { .. }
                | RightsReason::Embargoed { .. }
        )
    }

    /// Reasons the passing of time cannot end: only a change in OTMM, in Consonance or in the
    /// config does (territories, channels, OTMM's withdrawal flag, an expiry already passed).
    /// A start date or an embargo to come ends by itself.
    pub fn is_lasting(&self) -> bool {
        matches!(
            self,
            RightsReason::WithdrawnInOtmm
                | RightsReason::Expired { .. }
                | RightsReason::ChannelNotAllowed { .. }
                | RightsReason::ChannelsUnknown { .. }
                | RightsReason::TerritoryNotCovered { .. }
        )
    }
}

/// A product the asset's rights do not cover, with every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDenial {
    pub product_id: ProductId,
    pub reasons: Vec<RightsReason>,
}

/// The answer for a set of products: both lists ordered by product id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Coverage {
    pub covered: Vec<ProductId>,
    pub denied: Vec<ProductDenial>,
}

impl Coverage {
    /// One line for people (audit detail, OTMM flag): `10011: expired 2026-11-30; 10012: ...`,
    /// or just the reasons when every product is denied for the same asset-wide reasons.
    pub fn summary(&self) -> String {
        summarise(&self.denied)
    }
}

/// See [`Coverage::summary`].
pub fn summarise(denied: &[ProductDenial]) -> String {
    let text = |d: &ProductDenial| d.reasons.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ");
    if let Some(first) = denied.first()
        && first.reasons.iter().all(RightsReason::is_asset_wide)
        && denied.iter().all(|d| d.reasons == first.reasons)
    {
        return text(first);
    }
    // Products with the same reasons together: `10020, 10021: sold in US where ...`.
    let mut groups: Vec<(Vec<String>, String)> = Vec::new();
    for d in denied {
        let why = text(d);
        match groups.iter_mut().find(|(_, w)| *w == why) {
            Some((ids, _)) => ids.push(d.product_id.to_string()),
            None => groups.push((vec![d.product_id.to_string()], why)),
        }
    }
    groups.into_iter().map(|(ids, why)| format!("{}: {why}", ids.join(", "))).collect::<Vec<_>>().join("; ")
}

/// Where `product` is for sale and `asset` may not be shown, exactly, as a territory:
/// finite (`included` only) unless the product is for sale worldwide and the asset is limited
/// to a list of countries, when it is "WORLD except" (`world` with `excluded`).
pub fn uncovered_territory(product: &ProductSalesRights, asset: &Territory) -> Territory {
    if !product.for_sale_worldwide {
        let countries = product
            .for_sale
            .iter()
            .filter(|c| !product.not_for_sale.contains(c) && !asset.contains(**c))
            .copied();
        return Territory::countries(countries);
    }
    if asset.world {
        // Worldwide on both sides: only the asset's exclusions the product is sold in.
        let countries = asset.excluded.iter().filter(|c| !product.not_for_sale.contains(c)).copied();
        return Territory::countries(countries);
    }
    // Sold worldwide, shown only in a list: everywhere but that list and the unsold countries.
    let shown = asset.included.iter().filter(|c| !asset.excluded.contains(c)).copied();
    Territory {
        world: true,
        included: BTreeSet::new(),
        excluded: product.not_for_sale.iter().copied().chain(shown).collect(),
    }
}

/// Every reason `asset` does not cover a product with these sales rights, used on `channels`
/// (`None`: none configured), on `date`. Empty: covered.
pub fn reasons(
    asset: &AssetRights,
    sales: &ProductSalesRights,
    channels: Option<&BTreeSet<Channel>>,
    form: Option<&ProductForm>,
    date: NaiveDate,
) -> Vec<RightsReason> {
    let mut out = Vec::new();
    if asset.withdrawn {
        out.push(RightsReason::WithdrawnInOtmm);
    }
    let w = asset.window;
    if let Some(start) = w.start.filter(|s| date < *s) {
        out.push(RightsReason::NotYetValid { start });
    }
    if let Some(expiry) = w.expiry.filter(|e| date > *e) {
        out.push(RightsReason::Expired { expiry });
    }
    if let Some(until) = w.embargo_until.filter(|u| date < *u) {
        out.push(RightsReason::Embargoed { until });
    }
    if let Some(allowed) = &asset.channels {
        match channels {
            Some(needed) => {
                let missing: BTreeSet<Channel> = needed.difference(allowed).copied().collect();
                if !missing.is_empty() {
                    out.push(RightsReason::ChannelNotAllowed { channels: missing });
                }
            }
            None => out.push(RightsReason::ChannelsUnknown { form: form.map(|f| f.to_string()) }),
        }
    }
    let uncovered = uncovered_territory(sales, &asset.territory);
    if !uncovered.is_empty() {
        out.push(RightsReason::TerritoryNotCovered { uncovered });
    }
    out
}

/// Which of `products` an asset of `role` with `rights` may be linked to on `date`.
pub fn evaluate(
    rights: &AssetRights,
    role: AssetRole,
    products: &[&ProductFacts],
    config: &MappingConfig,
    date: NaiveDate,
) -> Coverage {
    let mut coverage = Coverage::default();
    let mut sorted: Vec<&&ProductFacts> = products.iter().collect();
    sorted.sort_by_key(|p| p.product_id);
    sorted.dedup_by_key(|p| p.product_id);
    for p in sorted {
        let channels = config.usage_channels(role, p.form.as_ref());
        let why = reasons(rights, &p.sales_rights, channels, p.form.as_ref(), date);
        if why.is_empty() {
            coverage.covered.push(p.product_id);
        } else {
            coverage.denied.push(ProductDenial { product_id: p.product_id, reasons: why });
        }
    }
    coverage
}

/// The next day on or after `date` on which the asset's window changes what it covers: the
/// day after the last day of use, the start, or the end of an embargo. The expiry pass keeps
/// an index by this day.
pub fn next_window_change(rights: &AssetRights, date: NaiveDate) -> Option<NaiveDate> {
    let w = rights.window;
    [w.expiry.and_then(|e| e.succ_opt()), w.start, w.embargo_until]
        .into_iter()
        .flatten()
        .filter(|d| *d > date)
        .min()
}

/// Whether rights that expire on `expiry` are inside the warning window on `date`: from
/// `warning_days` before the last day of use up to that day.
pub fn expiring_soon(expiry: NaiveDate, date: NaiveDate, warning_days: u32) -> bool {
    date <= expiry && (expiry - date).num_days() <= i64::from(warning_days)
}

#[cfg(test)]
mod tests;
