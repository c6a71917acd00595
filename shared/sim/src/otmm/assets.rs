//! The simulator's asset records with the indices a large catalogue needs: versions by
//! lineage (`original_asset_id`); the change feed, the latest non-deleted versions ordered
//! by (`date_last_updated`, `asset_id`), which is the order of `sort=asc_<date last updated>`;
//! and metadata values that are identifiers (13 digits: an ISBN), for the title searches
//! readiness makes for every link (at 10,000 titles, scanning 82,000 versions for each made
//! the simulator, not the connector, the cost of processing a first install).
//!
//! A real OTMM answers a search on an indexed date field without sorting the repository; with
//! 400,000 assets a sort per page request made the simulator, not the connector, the cost of a
//! reconciler pass. The feed is rebuilt lazily: any mutable access drops it, and the next
//! search that wants it sorts once (a reconciler pass reads many pages between changes).

use super::model::SimAsset;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Default)]
pub(crate) struct Assets {
    by_id: BTreeMap<String, SimAsset>,
    /// `original_asset_id` -> the asset ids of its versions. A version never changes lineage.
    lineages: HashMap<String, Vec<String>>,
    /// (date_last_updated, asset_id) of every latest, non-deleted version, ascending.
    feed: Option<Vec<(DateTime<Utc>, String)>>,
    values: ValueIndex,
}

/// Metadata values by field: those that are exactly 13 ASCII digits by value, every other
/// value by field alone. A text condition (contains, or equals after trimming) whose value is
/// 13 digits can only match a 13-digit value equal to it, or some other value: the union of
/// the two sets holds every match, and the search still tests each candidate. Kept up to date
/// lazily: a changed asset is re-indexed by the next search that asks.
#[derive(Default)]
struct ValueIndex {
    thirteen_digits: HashMap<(String, String), BTreeSet<String>>,
    other: HashMap<String, BTreeSet<String>>,
    /// The entries each asset was indexed under, to take them out again.
    entries: HashMap<String, Vec<(String, String)>>,
    stale: BTreeSet<String>,
}

fn is_thirteen_digits(v: &str) -> bool {
    v.len() == 13 && v.bytes().all(|b| b.is_ascii_digit())
}

impl ValueIndex {
    fn refresh(&mut self, by_id: &BTreeMap<String, SimAsset>) {
        for id in std::mem::take(&mut self.stale) {
            for (field, value) in self.entries.remove(&id).unwrap_or_default() {
                if is_thirteen_digits(&value) {
                    if let Some(ids) = self.thirteen_digits.get_mut(&(field, value)) {
                        ids.remove(&id);
                    }
                } else if let Some(ids) = self.other.get_mut(&field) {
                    ids.remove(&id);
                }
            }
            let Some(a) = by_id.get(&id) else { continue };
            let mut entries = Vec::with_capacity(a.fields.len());
            for (field, value) in &a.fields {
                if is_thirteen_digits(value) {
                    self.thirteen_digits
                        .entry((field.clone(), value.clone()))
                        .or_default()
                        .insert(id.clone());
                } else {
                    self.other.entry(field.clone()).or_default().insert(id.clone());
                }
                entries.push((field.clone(), value.clone()));
            }
            self.entries.insert(id, entries);
        }
    }
}

impl Assets {
    pub(crate) fn insert(&mut self, a: SimAsset) {
        self.feed = None;
        let id = a.asset_id.clone();
        self.values.stale.insert(id.clone());
        let lineage = a.original_asset_id.clone();
        if let Some(old) = self.by_id.insert(id.clone(), a)
            && let Some(ids) = self.lineages.get_mut(&old.original_asset_id)
        {
            ids.retain(|x| *x != id);
        }
        self.lineages.entry(lineage).or_default().push(id);
    }

    pub(crate) fn get(&self, id: &str) -> Option<&SimAsset> {
        self.by_id.get(id)
    }

    /// Drops the feed: the caller may change the date, the latest flag or the deletion.
    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut SimAsset> {
        self.feed = None;
        if self.by_id.contains_key(id) {
            self.values.stale.insert(id.to_string());
        }
        self.by_id.get_mut(id)
    }

    /// Brings the value index up to date with the assets changed since (before
    /// [`Assets::could_hold`]).
    pub(crate) fn refresh_values(&mut self) {
        self.values.refresh(&self.by_id);
    }

    /// Every asset whose `field` could hold `value` in a text condition (a superset of the
    /// matches: see [`ValueIndex`]), or `None` when the index cannot narrow it (a value that is
    /// not 13 digits). As of the last [`Assets::refresh_values`].
    pub(crate) fn could_hold(&self, field: &str, value: &str) -> Option<Vec<&SimAsset>> {
        let value = value.trim();
        if !is_thirteen_digits(value) {
            return None;
        }
        let exact = self.values.thirteen_digits.get(&(field.to_string(), value.to_string()));
        let other = self.values.other.get(field);
        let ids: BTreeSet<&String> = exact.into_iter().chain(other).flatten().collect();
        Some(ids.into_iter().filter_map(|id| self.by_id.get(id)).collect())
    }

    /// Every version, by asset id.
    pub(crate) fn values(&self) -> impl Iterator<Item = &SimAsset> {
        self.by_id.values()
    }

    /// The versions of one lineage, in no particular order.
    pub(crate) fn lineage(&self, original: &str) -> impl Iterator<Item = &SimAsset> {
        self.lineages.get(original).into_iter().flatten().filter_map(|id| self.by_id.get(id))
    }

    /// Applies `f` to every version of one lineage.
    pub(crate) fn for_lineage_mut(&mut self, original: &str, mut f: impl FnMut(&mut SimAsset)) {
        self.feed = None;
        for id in self.lineages.get(original).into_iter().flatten() {
            if let Some(a) = self.by_id.get_mut(id) {
                f(a);
                self.values.stale.insert(id.clone());
            }
        }
    }

    /// Builds the change feed if a change dropped it.
    pub(crate) fn build_feed(&mut self) {
        if self.feed.is_none() {
            let mut feed: Vec<(DateTime<Utc>, String)> = self
                .by_id
                .values()
                .filter(|a| a.latest_version && !a.deleted)
                .map(|a| (a.date_last_updated, a.asset_id.clone()))
                .collect();
            feed.sort_unstable();
            self.feed = Some(feed);
        }
    }

    /// The change feed as last built ([`Assets::build_feed`] first).
    pub(crate) fn feed(&self) -> &[(DateTime<Utc>, String)] {
        self.feed.as_deref().unwrap_or_default()
    }
}
