//! Code lists of the simulated schema, as the schema pages at graphql-schema.consonance.app
//! publish them (GraphQL enum names cannot start with a digit, so numeric codes carry a `_`).

/// `ONIXWebsiteRoleCode` (ONIX list 73), as the `onixwebsiterolecode` schema page lists it:
/// `_00` to `_18`, then `_23` to `_36` (the page is cut short after `_36`; later codes are
/// UNCONFIRMED and left out).
pub const WEBSITE_ROLES: &[&str] = &[
    "_00", "_01", "_02", "_03", "_04", "_05", "_06", "_07", "_08", "_09", "_10", "_11", "_12", "_13", "_14",
    "_15", "_16", "_17", "_18", "_23", "_24", "_25", "_26", "_27", "_28", "_29", "_30", "_31", "_32", "_33",
    "_34", "_35", "_36",
];

/// `ONIXContentAudienceCode` (ONIX list 154), as the `onixcontentaudiencecode` page lists it.
pub const CONTENT_AUDIENCES: &[&str] = &["_00", "_01", "_02", "_03", "_04", "_05", "_06", "_07", "_08"];

/// `ONIX21ProductFormCode`: `ProductSearchAttributes.onix21ProductFormCodeIn` is
/// `[ONIX21ProductFormCode!]` (schema page `productsearchattributes`; the official examples
/// write `[BB, BC]`). Its values are ONIX 2.1 code list 7, here as the ONIX 2.1 code-list XSD
/// shipped in the `onixcheck` package has them (`schema/xsd2.1`), `00` as `_00`.
pub const PRODUCT_FORMS: &[&str] = &[
    "_00", "AA", "AB", "AC", "AD", "AE", "AF", "AG", "AH", "AI", "AJ", "AK", "AL", "AZ", "BA", "BB", "BC",
    "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BK", "BL", "BM", "BN", "BO", "BP", "BZ", "CA", "CB", "CC",
    "CD", "CE", "CZ", "DA", "DB", "DC", "DD", "DE", "DF", "DG", "DH", "DI", "DJ", "DK", "DL", "DM", "DN",
    "DO", "DZ", "FA", "FB", "FC", "FD", "FE", "FF", "FZ", "MA", "MB", "MC", "MZ", "PA", "PB", "PC", "PD",
    "PE", "PF", "PG", "PH", "PI", "PJ", "PK", "PL", "PM", "PN", "PO", "PP", "PQ", "PR", "PS", "PT", "PZ",
    "VA", "VB", "VC", "VD", "VE", "VF", "VG", "VH", "VI", "VJ", "VK", "VL", "VM", "VN", "VO", "VP", "VZ",
    "WW", "WX", "XA", "XB", "XC", "XD", "XE", "XF", "XG", "XH", "XI", "XJ", "XK", "XL", "XM", "XZ", "ZA",
    "ZB", "ZC", "ZD", "ZE", "ZF", "ZG", "ZH", "ZI", "ZJ", "ZY", "ZZ",
];

/// The implementations of the `Product` interface (the `weblink` page's "Require by" list,
/// API-NOTES); also the values of `ProductTypename` (`productTypes` search attribute).
pub const PRODUCT_TYPES: &[&str] = &[
    "PhysicalBookProduct",
    "ElectronicBookProduct",
    "ElectronicAudioProduct",
    "PhysicalAudioProduct",
    "ElectronicProduct",
    "PhysicalProduct",
    "GenericProduct",
];

/// The `Product` implementation a product of this ONIX 2.1 form is.
pub fn product_type(form: &str) -> &'static str {
    match form.as_bytes() {
        [b'B', ..] => "PhysicalBookProduct",
        [b'D' | b'E', ..] => "ElectronicBookProduct",
        [b'A', b'J' | b'N' | b'O' | b'Z', ..] => "ElectronicAudioProduct",
        [b'A', ..] => "PhysicalAudioProduct",
        [b'V' | b'W', ..] => "ElectronicProduct",
        [b'C' | b'F' | b'M' | b'P' | b'X', ..] => "PhysicalProduct",
        _ => "GenericProduct",
    }
}
