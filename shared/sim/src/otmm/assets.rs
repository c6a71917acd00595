//! The simulator's asset records with the two indices a large catalogue needs: versions by
//! lineage (`original_asset_id`), and the change feed, the latest non-deleted versions ordered
//! by (`date_last_updated`, `asset_id`), which is the order of `sort=asc_<date last updated>`.
//!
//! A real OTMM answers a search on an indexed date field without sorting the repository; with
//! 400,000 assets a sort per page request made the simulator, not the connector, the cost of a
//! reconciler pass. The feed is rebuilt lazily: any mutable access drops it, and the next
//! search that wants it sorts once (a reconciler pass reads many pages between changes).

use super::model::SimAsset;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

#[derive(Default)]
pub(crate) struct Assets {
    by_id: BTreeMap<String, SimAsset>,
    /// `original_asset_id` -> the asset ids of its versions. A version never changes lineage.
    lineages: HashMap<String, Vec<String>>,
    /// (date_last_updated, asset_id) of every latest, non-deleted version, ascending.
    feed: Option<Vec<(DateTime<Utc>, String)>>,
}

impl Assets {
    pub(crate) fn insert(&mut self, a: SimAsset) {
        self.feed = None;
        let id = a.asset_id.clone();
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
        self.by_id.get_mut(id)
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
