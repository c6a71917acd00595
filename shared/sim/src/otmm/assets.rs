//! The simulator's asset records with the indices a large catalogue needs: versions by
//! lineage (`original_asset_id`); the change feed, the latest non-deleted versions ordered
//! by (`date_last_updated`, `asset_id`), which is the order of `sort=asc_<date last updated>`;
//! and metadata values by value and length, for identifier searches (the title searches
//! readiness makes for every link, request lookups: at 10,000 titles, scanning 82,000 versions
//! for each made the simulator, not the connector, the cost of processing a first install).
//!
//! A real OTMM answers a search on an indexed date field without sorting the repository; with
//! 400,000 assets a sort per page request made the simulator, not the connector, the cost of a
//! reconciler pass. The feed is rebuilt lazily: any mutable access drops it, and the next
//! search that wants it sorts once (a reconciler pass reads many pages between changes).

use super::model::SimAsset;
use chrono::{DateTime, Utc};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Default)]
pub(crate) struct Assets {
    by_id: BTreeMap<String, SimAsset>,
    /// `original_asset_id` -> the asset ids of its versions. A version never changes lineage.
    lineages: HashMap<String, Vec<String>>,
    /// (date_last_updated, asset_id) of every latest, non-deleted version, ascending.
    feed: Option<Vec<(DateTime<Utc>, String)>>,
    /// The feed's hits for one set of conditions that are not only its date bound (the pages
    /// of one pass ask the same ones): (their key, the asset ids in feed order). Dropped with
    /// the feed. Without it every page filtered the rest of the feed to count its hits: at
    /// 100,000 titles a first install's scan spent its time there.
    feed_hits: Option<(String, Vec<String>)>,
    /// Behind a `RefCell` so reads can bring it up to date (the state is behind a mutex).
    values: RefCell<ValueIndex>,
}

/// Metadata values by field, lowercased: by value, and by length. A text condition (contains,
/// or equals after trimming; both compare lowercased) can only match a value at least as long
/// as its own, and one of the same length only if equal: the values equal to it plus those
/// longer hold every match, and the search still tests each candidate. Narrows identifier
/// searches (an ISBN, a request id) to a few candidates; a short value narrows nothing, and
/// the search then reads every asset. Kept up to date lazily: a changed asset is re-indexed
/// by the next search that asks.
#[derive(Default)]
struct ValueIndex {
    by_value: HashMap<(String, String), BTreeSet<String>>,
    /// field id -> value length (in bytes, lowercased) -> asset ids.
    by_length: HashMap<String, BTreeMap<usize, BTreeSet<String>>>,
    /// The (field, lowercased value) each asset was indexed under, to take them out again.
    entries: HashMap<String, Vec<(String, String)>>,
    /// Folder id -> its latest versions (what a folder's children and child count show), and
    /// the folder each was indexed under.
    by_parent: HashMap<String, BTreeSet<String>>,
    parent_of: HashMap<String, String>,
    stale: BTreeSet<String>,
}

impl ValueIndex {
    fn refresh(&mut self, by_id: &BTreeMap<String, SimAsset>) {
        for id in std::mem::take(&mut self.stale) {
            for (field, value) in self.entries.remove(&id).unwrap_or_default() {
                if let Some(ids) = self.by_length.get_mut(&field).and_then(|l| l.get_mut(&value.len())) {
                    ids.remove(&id);
                }
                if let Some(ids) = self.by_value.get_mut(&(field, value)) {
                    ids.remove(&id);
                }
            }
            if let Some(parent) = self.parent_of.remove(&id)
                && let Some(ids) = self.by_parent.get_mut(&parent)
            {
                ids.remove(&id);
            }
            let Some(a) = by_id.get(&id) else { continue };
            if let Some(parent) = a.parent_folder_id.as_ref().filter(|_| a.latest_version) {
                self.by_parent.entry(parent.clone()).or_default().insert(id.clone());
                self.parent_of.insert(id.clone(), parent.clone());
            }
            let mut entries = Vec::with_capacity(a.fields.len());
            for (field, value) in &a.fields {
                let value = value.to_lowercase();
                self.by_length
                    .entry(field.clone())
                    .or_default()
                    .entry(value.len())
                    .or_default()
                    .insert(id.clone());
                self.by_value.entry((field.clone(), value.clone())).or_default().insert(id.clone());
                entries.push((field.clone(), value));
            }
            self.entries.insert(id, entries);
        }
    }
}

impl Assets {
    pub(crate) fn insert(&mut self, a: SimAsset) {
        self.drop_feed();
        let id = a.asset_id.clone();
        self.values.get_mut().stale.insert(id.clone());
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
        self.drop_feed();
        if self.by_id.contains_key(id) {
            self.values.get_mut().stale.insert(id.to_string());
        }
        self.by_id.get_mut(id)
    }

    /// Every asset whose `field` could hold `value` in a text condition (a superset of the
    /// matches: see [`ValueIndex`]), or `None` when that would not be fewer than half the
    /// assets (a short value).
    pub(crate) fn could_hold(&self, field: &str, value: &str) -> Option<Vec<&SimAsset>> {
        let value = value.trim().to_lowercase();
        let mut index = self.values.borrow_mut();
        index.refresh(&self.by_id);
        let equal = index.by_value.get(&(field.to_string(), value.clone()));
        let longer: Vec<&BTreeSet<String>> = index
            .by_length
            .get(field)
            .map(|l| l.range(value.len() + 1..).map(|(_, ids)| ids).collect())
            .unwrap_or_default();
        let count = equal.map_or(0, BTreeSet::len) + longer.iter().map(|ids| ids.len()).sum::<usize>();
        if count * 2 > self.by_id.len() {
            return None;
        }
        let ids: BTreeSet<&String> = equal.into_iter().chain(longer).flatten().collect();
        Some(ids.into_iter().filter_map(|id| self.by_id.get(id)).collect())
    }

    /// The latest versions filed in `folder`, by asset id.
    pub(crate) fn latest_in_folder(&self, folder: &str) -> Vec<&SimAsset> {
        let mut index = self.values.borrow_mut();
        index.refresh(&self.by_id);
        index.by_parent.get(folder).into_iter().flatten().filter_map(|id| self.by_id.get(id)).collect()
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
        self.drop_feed();
        for id in self.lineages.get(original).into_iter().flatten() {
            if let Some(a) = self.by_id.get_mut(id) {
                f(a);
                self.values.get_mut().stale.insert(id.clone());
            }
        }
    }

    fn drop_feed(&mut self) {
        self.feed = None;
        self.feed_hits = None;
    }

    /// The feed's hits for `key` as [`Assets::set_feed_hits`] kept them, unless a change
    /// dropped them.
    pub(crate) fn feed_hits(&self, key: &str) -> Option<&[String]> {
        self.feed_hits.as_ref().filter(|(k, _)| k == key).map(|(_, ids)| ids.as_slice())
    }

    pub(crate) fn set_feed_hits(&mut self, key: String, ids: Vec<String>) {
        self.feed_hits = Some((key, ids));
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
