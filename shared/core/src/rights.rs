//! Rights: where, on which channel and when an asset version may be used, and where a product
//! may be sold. Territories follow ONIX 3.0 `Territory`: a base (WORLD or a list of
//! ISO 3166-1 countries) with exclusions. `may_use` answers for one country; what covers a product (links and
//! packages alike) is [`crate::rights_eval::reasons`].

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// ISO 3166-1 alpha-2 country code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 2]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RightsParseError {
    #[error("{0:?} is not an ISO 3166-1 alpha-2 country code (two letters)")]
    Country(String),
    #[error("unknown channel {0:?}; expected print, ebook, audio, retail_web or social")]
    Channel(String),
    #[error("territory {0:?} is empty; use WORLD, a list of country codes, or WORLD with -XX exclusions")]
    EmptyTerritory(String),
}

impl CountryCode {
    pub fn parse(s: &str) -> Result<Self, RightsParseError> {
        let b = s.trim().as_bytes();
        if b.len() == 2 && b.iter().all(|c| c.is_ascii_alphabetic()) {
            Ok(CountryCode([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]))
        } else {
            Err(RightsParseError::Country(s.to_string()))
        }
    }
    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}
impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl TryFrom<String> for CountryCode {
    type Error = RightsParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CountryCode::parse(&s)
    }
}
impl From<CountryCode> for String {
    fn from(c: CountryCode) -> String {
        c.as_str().to_string()
    }
}

/// Where something applies: `(world || included) && !excluded`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Territory {
    /// ONIX region WORLD.
    #[serde(default)]
    pub world: bool,
    #[serde(default)]
    pub included: BTreeSet<CountryCode>,
    #[serde(default)]
    pub excluded: BTreeSet<CountryCode>,
}

impl Territory {
    pub fn world() -> Self {
        Territory { world: true, ..Default::default() }
    }
    pub fn countries<I: IntoIterator<Item = CountryCode>>(countries: I) -> Self {
        Territory { included: countries.into_iter().collect(), ..Default::default() }
    }
    pub fn contains(&self, c: CountryCode) -> bool {
        (self.world || self.included.contains(&c)) && !self.excluded.contains(&c)
    }
    pub fn excluding(mut self, c: CountryCode) -> Self {
        self.excluded.insert(c);
        self
    }
    pub fn including(mut self, c: CountryCode) -> Self {
        self.included.insert(c);
        self
    }
    pub fn is_empty(&self) -> bool {
        !self.world && self.included.iter().all(|c| self.excluded.contains(c))
    }
    /// Parses the compact form used in OTMM fields and config: `WORLD`, `GB IE`,
    /// `WORLD -US -CA` (also comma separated). `ROW` is read as WORLD: for an asset,
    /// "rest of world" only means something next to other grants, which OTMM does not hold.
    pub fn parse(input: &str) -> Result<Self, RightsParseError> {
        let mut t = Territory::default();
        for token in input.split(|c: char| c.is_whitespace() || c == ',').filter(|s| !s.is_empty()) {
            let upper = token.to_ascii_uppercase();
            if upper == "WORLD" || upper == "ROW" {
                t.world = true;
            } else if let Some(rest) = upper.strip_prefix('-') {
                t.excluded.insert(CountryCode::parse(rest)?);
            } else {
                t.included.insert(CountryCode::parse(&upper)?);
            }
        }
        if !t.world && t.included.is_empty() {
            return Err(RightsParseError::EmptyTerritory(input.to_string()));
        }
        Ok(t)
    }
}

impl fmt::Display for Territory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if self.world {
            parts.push("WORLD".into());
        }
        parts.extend(self.included.iter().map(|c| c.to_string()));
        parts.extend(self.excluded.iter().map(|c| format!("-{c}")));
        f.write_str(&parts.join(" "))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Print,
    Ebook,
    Audio,
    RetailWeb,
    Social,
}

impl Channel {
    pub const ALL: [Channel; 5] =
        [Channel::Print, Channel::Ebook, Channel::Audio, Channel::RetailWeb, Channel::Social];
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Print => "print",
            Channel::Ebook => "ebook",
            Channel::Audio => "audio",
            Channel::RetailWeb => "retail_web",
            Channel::Social => "social",
        }
    }
}
impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl FromStr for Channel {
    type Err = RightsParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| RightsParseError::Channel(s.to_string()))
    }
}

/// When an asset may be used: from `start`, not after `expiry`, and not before `embargo_until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ValidityWindow {
    pub start: Option<NaiveDate>,
    /// Last day of use (OTMM `ARTESIA.FIELD.EXPIRATION DATE`).
    pub expiry: Option<NaiveDate>,
    pub embargo_until: Option<NaiveDate>,
}

impl ValidityWindow {
    /// Whether `date` is inside the window (the dates `rights_eval` gives reasons for).
    pub fn is_open_on(&self, date: NaiveDate) -> bool {
        self.start.is_none_or(|d| d <= date)
            && self.expiry.is_none_or(|d| date <= d)
            && self.embargo_until.is_none_or(|d| d <= date)
    }
}

/// The usage rights of one asset version, as held in OTMM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetRights {
    pub territory: Territory,
    /// `None`: every channel.
    pub channels: Option<BTreeSet<Channel>>,
    pub window: ValidityWindow,
    /// OTMM's own `expired` flag, or a usage restriction set by hand.
    #[serde(default)]
    pub withdrawn: bool,
}

impl AssetRights {
    pub fn unrestricted() -> Self {
        AssetRights {
            territory: Territory::world(),
            channels: None,
            window: ValidityWindow::default(),
            withdrawn: false,
        }
    }
}

/// A product's sales rights, as held in Consonance (`forSaleCountryCodes`,
/// `notForSaleCountryCodes`, `isForSaleWorldwide`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProductSalesRights {
    #[serde(default)]
    pub for_sale_worldwide: bool,
    #[serde(default)]
    pub for_sale: BTreeSet<CountryCode>,
    #[serde(default)]
    pub not_for_sale: BTreeSet<CountryCode>,
}

impl ProductSalesRights {
    pub fn is_for_sale_in(&self, c: CountryCode) -> bool {
        !self.not_for_sale.contains(&c) && (self.for_sale_worldwide || self.for_sale.contains(&c))
    }
}

/// Why an asset may not be used. Each variant names the fact that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Denial {
    #[error("the asset is withdrawn or marked expired in OTMM")]
    Withdrawn,
    #[error("the asset's rights start on {start}, after {date}")]
    NotYetValid { start: NaiveDate, date: NaiveDate },
    #[error("the asset's rights expired on {expiry}, before {date}")]
    Expired { expiry: NaiveDate, date: NaiveDate },
    #[error("the asset is embargoed until {until}")]
    Embargoed { until: NaiveDate, date: NaiveDate },
    #[error("the asset may not be used on the {channel} channel")]
    ChannelNotAllowed { channel: Channel },
    #[error("the asset may not be shown in {country}")]
    TerritoryNotAllowed { country: CountryCode },
    #[error("the product is not for sale in {country}")]
    ProductNotForSale { country: CountryCode },
}

/// May this asset version be used for this product, in `country`, on `channel`, on `date`?
/// `Ok(())` or the first reason it may not, checked from the asset's own state outwards.
pub fn may_use(
    asset: &AssetRights,
    product: &ProductSalesRights,
    country: CountryCode,
    channel: Channel,
    date: NaiveDate,
) -> Result<(), Denial> {
    if asset.withdrawn {
        return Err(Denial::Withdrawn);
    }
    let w = asset.window;
    if let Some(start) = w.start.filter(|s| date < *s) {
        return Err(Denial::NotYetValid { start, date });
    }
    if let Some(expiry) = w.expiry.filter(|e| date > *e) {
        return Err(Denial::Expired { expiry, date });
    }
    if let Some(until) = w.embargo_until.filter(|u| date < *u) {
        return Err(Denial::Embargoed { until, date });
    }
    if let Some(channels) = &asset.channels
        && !channels.contains(&channel)
    {
        return Err(Denial::ChannelNotAllowed { channel });
    }
    if !asset.territory.contains(country) {
        return Err(Denial::TerritoryNotAllowed { country });
    }
    if !product.is_for_sale_in(country) {
        return Err(Denial::ProductNotForSale { country });
    }
    Ok(())
}

/// Proptest generators for rights, shared by the property tests of this module and of
/// `rights_eval`: the same ten countries, territories and sales rights over them.
#[cfg(test)]
pub(crate) mod strategies {
    use super::*;
    use proptest::prelude::*;

    /// The countries the generators draw from.
    pub(crate) const COUNTRIES: [&str; 10] = ["GB", "US", "CA", "IE", "AU", "NZ", "FR", "DE", "IN", "ZA"];

    pub(crate) fn country() -> impl Strategy<Value = CountryCode> {
        prop::sample::select(COUNTRIES.to_vec()).prop_map(|c| CountryCode::parse(c).expect("valid code"))
    }
    pub(crate) fn territory() -> impl Strategy<Value = Territory> {
        (
            any::<bool>(),
            prop::collection::btree_set(country(), 0..5),
            prop::collection::btree_set(country(), 0..3),
        )
            .prop_map(|(world, included, excluded)| Territory { world, included, excluded })
    }
    pub(crate) fn product() -> impl Strategy<Value = ProductSalesRights> {
        (
            any::<bool>(),
            prop::collection::btree_set(country(), 0..5),
            prop::collection::btree_set(country(), 0..3),
        )
            .prop_map(|(for_sale_worldwide, for_sale, not_for_sale)| ProductSalesRights {
                for_sale_worldwide,
                for_sale,
                not_for_sale,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::strategies::{country, product, territory};
    use super::*;
    use proptest::prelude::*;

    fn cc(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }
    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }
    fn worldwide() -> ProductSalesRights {
        ProductSalesRights { for_sale_worldwide: true, ..Default::default() }
    }

    #[test]
    fn territory_parse_and_display_round_trip() {
        let t = Territory::parse("WORLD -us, -CA").unwrap();
        assert!(t.contains(cc("GB")) && !t.contains(cc("US")) && !t.contains(cc("CA")));
        assert_eq!(t.to_string(), "WORLD -CA -US");
        assert_eq!(Territory::parse(&t.to_string()).unwrap(), t);
        assert_eq!(Territory::parse("GB IE").unwrap(), Territory::countries([cc("GB"), cc("IE")]));
        assert!(matches!(Territory::parse("-US"), Err(RightsParseError::EmptyTerritory(_))));
        assert!(matches!(Territory::parse("GBR"), Err(RightsParseError::Country(_))));
    }

    #[test]
    fn each_denial_names_its_reason() {
        let mut a = AssetRights::unrestricted();
        let p = worldwide();
        assert_eq!(may_use(&a, &p, cc("GB"), Channel::Print, d("2026-01-01")), Ok(()));

        a.window.expiry = Some(d("2025-12-31"));
        assert_eq!(
            may_use(&a, &p, cc("GB"), Channel::Print, d("2026-01-01")),
            Err(Denial::Expired { expiry: d("2025-12-31"), date: d("2026-01-01") })
        );
        // The expiry day itself is still a day of use.
        assert_eq!(may_use(&a, &p, cc("GB"), Channel::Print, d("2025-12-31")), Ok(()));

        let mut a = AssetRights::unrestricted();
        a.window.embargo_until = Some(d("2026-03-01"));
        assert!(matches!(
            may_use(&a, &p, cc("GB"), Channel::Print, d("2026-02-28")),
            Err(Denial::Embargoed { .. })
        ));

        let mut a = AssetRights::unrestricted();
        a.channels = Some([Channel::Print].into());
        assert_eq!(
            may_use(&a, &p, cc("GB"), Channel::Social, d("2026-01-01")),
            Err(Denial::ChannelNotAllowed { channel: Channel::Social })
        );

        let mut a = AssetRights::unrestricted();
        a.territory = Territory::parse("WORLD -US").unwrap();
        assert_eq!(
            may_use(&a, &p, cc("US"), Channel::Print, d("2026-01-01")),
            Err(Denial::TerritoryNotAllowed { country: cc("US") })
        );

        let uk_only = ProductSalesRights { for_sale: [cc("GB")].into(), ..Default::default() };
        assert_eq!(
            may_use(&AssetRights::unrestricted(), &uk_only, cc("FR"), Channel::Ebook, d("2026-01-01")),
            Err(Denial::ProductNotForSale { country: cc("FR") })
        );
        let a = AssetRights { withdrawn: true, ..AssetRights::unrestricted() };
        assert_eq!(may_use(&a, &p, cc("GB"), Channel::Print, d("2026-01-01")), Err(Denial::Withdrawn));
        assert_eq!(Denial::Withdrawn.to_string(), "the asset is withdrawn or marked expired in OTMM");
    }

    fn date() -> impl Strategy<Value = NaiveDate> {
        (0i64..2000).prop_map(|n| d("2024-01-01") + chrono::Duration::days(n))
    }
    fn channel() -> impl Strategy<Value = Channel> {
        prop::sample::select(Channel::ALL.to_vec())
    }
    fn asset_rights() -> impl Strategy<Value = AssetRights> {
        (
            territory(),
            prop::option::of(prop::collection::btree_set(channel(), 0..5)),
            prop::option::of(date()),
            prop::option::of(date()),
            prop::option::of(date()),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(territory, channels, start, expiry, embargo_until, withdrawn)| AssetRights {
                territory,
                channels,
                window: ValidityWindow { start, expiry, embargo_until },
                withdrawn,
            })
    }

    proptest! {
        #[test]
        fn excluding_a_country_is_never_looser(t in territory(), x in country(), c in country()) {
            prop_assert!(!t.clone().excluding(x).contains(c) || t.contains(c));
            prop_assert!(!t.clone().excluding(c).contains(c));
        }

        #[test]
        fn including_a_country_is_never_tighter(t in territory(), x in country(), c in country()) {
            prop_assert!(!t.contains(c) || t.clone().including(x).contains(c));
        }

        #[test]
        fn display_parse_round_trips(t in territory()) {
            prop_assume!(t.world || !t.included.is_empty());
            prop_assert_eq!(Territory::parse(&t.to_string()).unwrap(), t);
        }

        #[test]
        fn narrowing_asset_territory_never_allows_more(a in asset_rights(), p in product(), x in country(), c in country(), ch in channel(), day in date()) {
            let mut narrowed = a.clone();
            narrowed.territory = narrowed.territory.excluding(x);
            prop_assert!(may_use(&narrowed, &p, c, ch, day).is_err() || may_use(&a, &p, c, ch, day).is_ok());
        }

        #[test]
        fn expired_stays_expired(a in asset_rights(), p in product(), c in country(), ch in channel(), day in date(), later in 0i64..400) {
            if let Err(Denial::Expired { .. }) = may_use(&a, &p, c, ch, day) {
                let after = day + chrono::Duration::days(later);
                prop_assert!(may_use(&a, &p, c, ch, after).is_err());
            }
        }

        #[test]
        fn allowed_means_every_rule_holds(a in asset_rights(), p in product(), c in country(), ch in channel(), day in date()) {
            if may_use(&a, &p, c, ch, day).is_ok() {
                prop_assert!(!a.withdrawn);
                prop_assert!(a.territory.contains(c) && p.is_for_sale_in(c));
                prop_assert!(a.channels.as_ref().is_none_or(|s| s.contains(&ch)));
                prop_assert!(a.window.start.is_none_or(|s| s <= day));
                prop_assert!(a.window.expiry.is_none_or(|e| day <= e));
                prop_assert!(a.window.embargo_until.is_none_or(|u| u <= day));
            }
        }

        #[test]
        fn product_not_for_sale_beats_for_sale(p in product(), c in country()) {
            let mut q = p.clone();
            q.not_for_sale.insert(c);
            prop_assert!(!q.is_for_sale_in(c));
        }
    }
}
