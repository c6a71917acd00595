use super::*;
use crate::rights::strategies::{country, product as sales, territory};
use crate::rights::{CountryCode, ValidityWindow};
use proptest::prelude::*;

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}
fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}
fn config() -> MappingConfig {
    MappingConfig::from_toml_str(include_str!("../../../../config/mapping.example.toml"), "example")
        .expect("example config")
}
fn worldwide() -> ProductSalesRights {
    ProductSalesRights { for_sale_worldwide: true, ..Default::default() }
}
fn product(id: i64, form: &str, sales: ProductSalesRights) -> ProductFacts {
    ProductFacts {
        product_id: ProductId(id),
        isbn: None,
        form: Some(ProductForm::parse(form).unwrap()),
        publication_date: None,
        sales_rights: sales,
    }
}
fn asset(territory: &str) -> AssetRights {
    AssetRights { territory: Territory::parse(territory).unwrap(), ..AssetRights::unrestricted() }
}

#[test]
fn worldwide_product_against_listed_asset_is_world_except_the_list() {
    let u = uncovered_territory(&worldwide(), &Territory::parse("GB IE").unwrap());
    assert_eq!(u.to_string(), "WORLD -GB -IE");
    let not_us = ProductSalesRights { not_for_sale: [cc("US")].into(), ..worldwide() };
    let u = uncovered_territory(&not_us, &Territory::parse("WORLD -US -CA").unwrap());
    assert_eq!(u.to_string(), "CA", "US is not sold, so only CA is uncovered");
    let uk = ProductSalesRights { for_sale: [cc("GB"), cc("IE")].into(), ..Default::default() };
    assert!(uncovered_territory(&uk, &Territory::parse("GB IE").unwrap()).is_empty());
    assert_eq!(uncovered_territory(&uk, &Territory::parse("WORLD -IE").unwrap()).to_string(), "IE");
}

#[test]
fn evaluation_names_every_reason_per_product() {
    let cfg = config();
    let bb = product(1, "BB", worldwide());
    let dg = product(2, "DG", ProductSalesRights { for_sale: [cc("GB")].into(), ..Default::default() });
    let mut rights = asset("GB IE");
    rights.channels = Some([Channel::Print].into());
    let c = evaluate(&rights, AssetRole::FrontCover, &[&dg, &bb], &cfg, d("2026-11-01"));
    assert!(c.covered.is_empty());
    assert_eq!(c.denied[0].product_id, ProductId(1));
    assert_eq!(
        c.denied[0].reasons,
        vec![RightsReason::TerritoryNotCovered { uncovered: Territory::parse("WORLD -GB -IE").unwrap() }]
    );
    assert_eq!(
        c.denied[1].reasons,
        vec![RightsReason::ChannelNotAllowed { channels: [Channel::Ebook].into() }]
    );
    assert_eq!(
        c.summary(),
        "1: sold in WORLD -GB -IE where the asset may not be shown; 2: channel ebook not allowed"
    );
}

#[test]
fn expiry_is_inclusive_and_summarised_once() {
    let cfg = config();
    let bb = product(1, "BB", worldwide());
    let dg = product(2, "DG", worldwide());
    let mut rights = AssetRights::unrestricted();
    rights.window.expiry = Some(d("2026-11-30"));
    let on_the_day = evaluate(&rights, AssetRole::FrontCover, &[&bb, &dg], &cfg, d("2026-11-30"));
    assert_eq!(on_the_day.covered, vec![ProductId(1), ProductId(2)]);
    let after = evaluate(&rights, AssetRole::FrontCover, &[&bb, &dg], &cfg, d("2026-12-01"));
    assert!(after.covered.is_empty());
    assert_eq!(after.summary(), "expired 2026-11-30");
    assert_eq!(next_window_change(&rights, d("2026-11-01")), Some(d("2026-12-01")));
    assert!(expiring_soon(d("2026-11-30"), d("2026-11-01"), 30));
    assert!(!expiring_soon(d("2026-11-30"), d("2026-10-30"), 30));
    assert!(!expiring_soon(d("2026-11-30"), d("2026-12-01"), 30));
}

#[test]
fn campaign_roles_use_their_own_channels() {
    let cfg = config();
    let bb = product(1, "BB", worldwide());
    let mut rights = AssetRights::unrestricted();
    rights.channels = Some([Channel::Social, Channel::RetailWeb].into());
    let social = evaluate(&rights, AssetRole::SocialGraphic, &[&bb], &cfg, d("2026-11-01"));
    assert_eq!(social.covered, vec![ProductId(1)], "a social graphic is used on social, not print");
    let cover = evaluate(&rights, AssetRole::FrontCover, &[&bb], &cfg, d("2026-11-01"));
    assert!(cover.covered.is_empty(), "a cover is used on the product's own channel (print)");
}

#[test]
fn reasons_serialise_with_a_stable_tag() {
    let r = RightsReason::TerritoryNotCovered { uncovered: Territory::parse("WORLD -GB").unwrap() };
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["reason"], "territory_not_covered");
    assert_eq!(serde_json::from_value::<RightsReason>(v).unwrap(), r);
    let e = serde_json::to_value(RightsReason::Expired { expiry: d("2026-11-30") }).unwrap();
    assert_eq!(e, serde_json::json!({"reason": "expired", "expiry": "2026-11-30"}));
}

// ---- properties ----

const UNIVERSE: [&str; 14] =
    ["GB", "US", "CA", "IE", "AU", "NZ", "FR", "DE", "IN", "ZA", "JP", "BR", "MX", "ES"];

fn date() -> impl Strategy<Value = NaiveDate> {
    (0i64..1000).prop_map(|n| d("2026-01-01") + chrono::Duration::days(n))
}
fn channels() -> impl Strategy<Value = Option<BTreeSet<Channel>>> {
    prop::option::of(prop::collection::btree_set(prop::sample::select(Channel::ALL.to_vec()), 1..4))
}
fn rights() -> impl Strategy<Value = AssetRights> {
    (
        territory(),
        channels(),
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
fn products() -> impl Strategy<Value = Vec<ProductFacts>> {
    prop::collection::vec((prop::sample::select(vec!["BB", "BC", "DG", "AJ", "ZZ"]), sales()), 0..6).prop_map(
        |v| v.into_iter().enumerate().map(|(i, (form, s))| product(i as i64 + 1, form, s)).collect(),
    )
}
fn role() -> impl Strategy<Value = AssetRole> {
    prop::sample::select(AssetRole::ALL.to_vec())
}

proptest! {
    /// The difference is exact, also for countries neither side names.
    #[test]
    fn uncovered_territory_is_exact(s in sales(), t in territory()) {
        let u = uncovered_territory(&s, &t);
        for c in UNIVERSE.iter().map(|c| cc(c)) {
            prop_assert_eq!(u.contains(c), s.is_for_sale_in(c) && !t.contains(c), "country {}", c);
        }
    }

    #[test]
    fn covered_and_denied_partition_the_products(r in rights(), ps in products(), role in role(), day in date()) {
        let refs: Vec<&ProductFacts> = ps.iter().collect();
        let c = evaluate(&r, role, &refs, &config(), day);
        let mut all: Vec<ProductId> = c.covered.iter().copied().chain(c.denied.iter().map(|d| d.product_id)).collect();
        all.sort();
        let expected: Vec<ProductId> = ps.iter().map(|p| p.product_id).collect();
        prop_assert_eq!(all, expected);
        prop_assert!(c.denied.iter().all(|d| !d.reasons.is_empty()));
    }

    #[test]
    fn narrowing_the_asset_territory_never_adds_covered_products(r in rights(), ps in products(), role in role(), day in date(), x in country()) {
        let refs: Vec<&ProductFacts> = ps.iter().collect();
        let before = evaluate(&r, role, &refs, &config(), day);
        let mut narrowed = r.clone();
        narrowed.territory = narrowed.territory.excluding(x);
        let after = evaluate(&narrowed, role, &refs, &config(), day);
        prop_assert!(after.covered.iter().all(|p| before.covered.contains(p)), "{:?} vs {:?}", after.covered, before.covered);
    }

    #[test]
    fn a_product_sold_in_one_more_country_is_never_more_covered(r in rights(), ps in products(), role in role(), day in date(), x in country()) {
        let refs: Vec<&ProductFacts> = ps.iter().collect();
        let before = evaluate(&r, role, &refs, &config(), day);
        let wider: Vec<ProductFacts> = ps.iter().cloned().map(|mut p| { p.sales_rights.for_sale.insert(x); p.sales_rights.not_for_sale.remove(&x); p }).collect();
        let refs: Vec<&ProductFacts> = wider.iter().collect();
        let after = evaluate(&r, role, &refs, &config(), day);
        prop_assert!(after.covered.iter().all(|p| before.covered.contains(p)));
    }

    #[test]
    fn an_expired_asset_covers_nothing(r in rights(), ps in products(), role in role(), day in date(), later in 1i64..400) {
        let mut expired = r.clone();
        expired.window.expiry = Some(day);
        let refs: Vec<&ProductFacts> = ps.iter().collect();
        let c = evaluate(&expired, role, &refs, &config(), day + chrono::Duration::days(later));
        prop_assert!(c.covered.is_empty());
        let expired_reason = RightsReason::Expired { expiry: day };
        prop_assert!(c.denied.iter().all(|d| d.reasons.contains(&expired_reason)));
    }

    #[test]
    fn result_is_independent_of_product_order(r in rights(), ps in products().prop_shuffle(), role in role(), day in date()) {
        let refs: Vec<&ProductFacts> = ps.iter().collect();
        let mut reversed = refs.clone();
        reversed.reverse();
        prop_assert_eq!(evaluate(&r, role, &refs, &config(), day), evaluate(&r, role, &reversed, &config(), day));
    }
}
