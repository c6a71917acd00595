use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

const ASSET: &str = "0123456789abcdef0123456789abcdef01234567";

fn otmm_body() -> Value {
    json!({
        "event_id": "01JD5X9Q1T3M4N5P6R7S8T9V0W",
        "event_type": "asset.approved",
        "otmm_event_id": 80008,
        "asset_id": ASSET,
        "version": 3,
        "occurred_at": "2026-03-01T09:30:00+01:00",
        "actor": {"user_id": "jdoe", "name": "Jane Doe"}
    })
}

fn consonance_body() -> Value {
    json!({
        "event_id": "c-42",
        "event_type": "product.changed",
        "product_id": 1001,
        "isbn": "978-0-306-40615-7",
        "changed_at": "2026-03-01T08:30:00Z",
        "fields": ["publicationDate"]
    })
}

fn parse(source: Source, v: &Value) -> Result<InboundEvent, EventError> {
    parse_event(source, &serde_json::to_vec(v).unwrap())
}

fn err_of(source: Source, v: &Value) -> EventError {
    parse(source, v).unwrap_err()
}

#[test]
fn otmm_event_parses_with_normalised_values() {
    let e = parse(Source::Otmm, &otmm_body()).unwrap();
    let InboundEvent::Otmm(o) = &e else { panic!("{e:?}") };
    assert_eq!(o.event_type, OtmmEventType::AssetApproved);
    assert_eq!(o.otmm_event_id, Some(80008));
    assert_eq!(o.asset_id.as_str(), ASSET);
    assert_eq!(o.version, 3);
    assert_eq!(o.occurred_at, Utc.with_ymd_and_hms(2026, 3, 1, 8, 30, 0).unwrap());
    assert_eq!(o.actor, Actor { user_id: "jdoe".into(), name: Some("Jane Doe".into()) });
    assert_eq!(e.dedupe_key(), "intake#otmm#01JD5X9Q1T3M4N5P6R7S8T9V0W");
    assert_eq!(e.event_type(), "asset.approved");
}

#[test]
fn consonance_event_parses_and_needs_one_identifier() {
    let e = parse(Source::Consonance, &consonance_body()).unwrap();
    let InboundEvent::Consonance(c) = &e else { panic!() };
    assert_eq!(c.product_id, Some(ProductId(1001)));
    assert_eq!(c.isbn.as_ref().unwrap().as_str(), "9780306406157");
    assert_eq!(c.fields, vec!["publicationDate".to_string()]);
    assert_eq!(e.dedupe_key(), "intake#consonance#c-42");

    let mut only_work = json!({"event_id": "c-1", "event_type": "work.changed", "work_id": "17",
        "changed_at": "2026-03-01T08:30:00Z"});
    let InboundEvent::Consonance(c) = parse(Source::Consonance, &only_work).unwrap() else { panic!() };
    assert_eq!(c.work_id, Some(WorkId(17)));
    only_work.as_object_mut().unwrap().remove("work_id");
    let err = err_of(Source::Consonance, &only_work);
    assert_eq!(err, EventError::MissingField { field: "work_id|product_id|isbn".into() });
    assert_eq!(err.to_json()["error"], "missing_field");
}

#[test]
fn invalid_asset_id_names_the_field() {
    let mut b = otmm_body();
    b["asset_id"] = json!("xyz");
    let err = err_of(Source::Otmm, &b);
    assert_eq!(
        err.to_json(),
        json!({"error": "invalid_field", "field": "asset_id", "message": "must be 40 hexadecimal characters"})
    );
}

#[test]
fn missing_fields_are_named_including_nested_ones() {
    for field in ["event_id", "event_type", "asset_id", "version", "occurred_at", "actor"] {
        let mut b = otmm_body();
        b.as_object_mut().unwrap().remove(field);
        assert_eq!(err_of(Source::Otmm, &b), EventError::MissingField { field: field.into() }, "{field}");
        // null counts as missing
        let mut b = otmm_body();
        b[field] = Value::Null;
        assert_eq!(err_of(Source::Otmm, &b).field(), Some(field));
    }
    let mut b = otmm_body();
    b["actor"].as_object_mut().unwrap().remove("user_id");
    let err = err_of(Source::Otmm, &b);
    assert_eq!(err.to_json()["field"], "actor.user_id");
    assert_eq!(err.to_json()["message"], "field actor.user_id is required");
    // optional ones may be absent
    let mut b = otmm_body();
    b.as_object_mut().unwrap().remove("otmm_event_id");
    b["actor"].as_object_mut().unwrap().remove("name");
    assert!(parse(Source::Otmm, &b).is_ok());
}

#[test]
fn unknown_event_type_lists_the_accepted_ones() {
    let mut b = otmm_body();
    b["event_type"] = json!("asset.moved");
    let j = err_of(Source::Otmm, &b).to_json();
    assert_eq!(j["field"], "event_type");
    assert_eq!(j["accepted"], json!(OtmmEventType::NAMES));
    assert!(j["message"].as_str().unwrap().contains("asset.created, asset.metadata_changed"));
    // An OTMM type sent to the Consonance route is unknown there.
    let mut c = consonance_body();
    c["event_type"] = json!("asset.created");
    assert_eq!(
        err_of(Source::Consonance, &c).to_json()["accepted"],
        json!(["work.changed", "product.changed"])
    );
}

#[test]
fn invalid_json_reports_line_and_column() {
    let err = parse_event(Source::Otmm, b"{\n  \"event_id\": \"a\",\n  oops\n}").unwrap_err();
    assert!(matches!(err, EventError::InvalidJson { line: 3, column: 3, .. }), "{err:?}");
    let j = err.to_json();
    assert_eq!(
        (j["error"].clone(), j["line"].clone(), j["column"].clone()),
        (json!("invalid_json"), json!(3), json!(3))
    );
    assert!(matches!(parse_event(Source::Otmm, b""), Err(EventError::InvalidJson { line: 1, .. })));
    assert!(matches!(parse_event(Source::Otmm, b"\xff\xfe"), Err(EventError::InvalidJson { .. })));
    assert_eq!(parse_event(Source::Otmm, b"[1]").unwrap_err(), EventError::NotAnObject { found: "an array" });
}

#[test]
fn bad_values_are_refused_with_reasons() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("version", json!(0), "from 1 to"),
        ("version", json!(1.5), "from 1 to"),
        ("version", json!("3"), "from 1 to"),
        ("version", json!(4_294_967_296u64), "from 1 to"),
        ("occurred_at", json!("yesterday"), "RFC 3339"),
        ("occurred_at", json!(1700000000), "must be a string"),
        ("event_id", json!(""), "must not be empty"),
        ("event_id", json!("a b"), "contains ' '"),
        ("event_id", json!("x".repeat(129)), "at most 128"),
        ("otmm_event_id", json!("80008"), "must be an integer"),
        ("actor", json!("jdoe"), "must be an object"),
        ("asset_id", json!(42), "must be a string"),
    ];
    for (field, value, needle) in cases {
        let mut b = otmm_body();
        b[field] = value.clone();
        let j = err_of(Source::Otmm, &b).to_json();
        assert_eq!(j["field"], field, "{field} = {value}: {j}");
        assert!(j["message"].as_str().unwrap().contains(needle), "{field} = {value}: {j}");
    }
    let mut b = otmm_body();
    b["actor"]["user_id"] = json!(" ");
    assert_eq!(err_of(Source::Otmm, &b).field(), Some("actor.user_id"));

    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("isbn", json!("9780306406158"), "isbn", "check digit"),
        ("product_id", json!(0), "product_id", "positive integer"),
        ("work_id", json!(-3), "work_id", "positive integer"),
        ("fields", json!("title"), "fields", "array"),
        ("fields", json!(["a", 3]), "fields[1]", "must be a string"),
        ("changed_at", json!("2026-13-01T00:00:00Z"), "changed_at", "RFC 3339"),
    ];
    for (key, value, field, needle) in cases {
        let mut c = consonance_body();
        c[key] = value.clone();
        let j = err_of(Source::Consonance, &c).to_json();
        assert_eq!(j["field"], field, "{key} = {value}: {j}");
        assert!(j["message"].as_str().unwrap().contains(needle), "{key} = {value}: {j}");
    }
}

#[test]
fn unknown_fields_are_ignored_and_do_not_change_the_hash() {
    let a = parse(Source::Otmm, &otmm_body()).unwrap();
    let mut b = otmm_body();
    b["extra"] = json!({"anything": true});
    b["occurred_at"] = json!("2026-03-01T08:30:00Z"); // same instant, other offset
    let b = parse(Source::Otmm, &b).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.payload_hash(), b.payload_hash());
    let mut c = otmm_body();
    c["version"] = json!(4);
    assert_ne!(a.payload_hash(), parse(Source::Otmm, &c).unwrap().payload_hash());
}

#[test]
fn flow_message_round_trips_and_checks_its_envelope() {
    let e = parse(Source::Otmm, &otmm_body()).unwrap();
    let m = FlowMessage::new(e.clone(), Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(), "corr-1");
    let text = m.to_json();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["source"], "otmm");
    assert_eq!(v["event_id"], "01JD5X9Q1T3M4N5P6R7S8T9V0W");
    assert_eq!(v["event"]["source"], "otmm");
    assert_eq!(v["event"]["asset_id"], ASSET);
    assert_eq!(FlowMessage::from_json(&text).unwrap(), m);

    let mut wrong = v.clone();
    wrong["schema"] = json!(2);
    assert_eq!(FlowMessage::from_json(&wrong.to_string()), Err(FlowMessageError::Schema { found: 2 }));
    let mut wrong = v.clone();
    wrong["source"] = json!("consonance");
    assert!(matches!(
        FlowMessage::from_json(&wrong.to_string()),
        Err(FlowMessageError::Inconsistent { field: "source", .. })
    ));
    let mut wrong = v.clone();
    wrong["event_id"] = json!("other");
    assert!(matches!(
        FlowMessage::from_json(&wrong.to_string()),
        Err(FlowMessageError::Inconsistent { field: "event_id", .. })
    ));
    assert!(matches!(FlowMessage::from_json("{"), Err(FlowMessageError::Invalid(_))));
}

// ----- properties -----

fn arb_time() -> impl Strategy<Value = DateTime<Utc>> {
    // 1970..2100, with sub-second precision.
    (0i64..4_102_444_800, 0u32..1_000_000_000).prop_map(|(s, n)| Utc.timestamp_opt(s, n).unwrap())
}

fn arb_event_id() -> impl Strategy<Value = EventId> {
    "[A-Za-z0-9._:-]{1,128}".prop_map(|s| EventId::parse(&s).unwrap())
}

fn arb_otmm() -> impl Strategy<Value = OtmmEvent> {
    (
        arb_event_id(),
        prop::sample::select(OtmmEventType::ALL.to_vec()),
        prop::option::of(any::<i64>()),
        "[0-9a-f]{40}",
        1u32..,
        arb_time(),
        "\\PC{1,40}".prop_filter("user id must not be blank", |s| !s.trim().is_empty()),
        prop::option::of("\\PC{0,40}"),
    )
        .prop_map(|(event_id, event_type, otmm_event_id, asset, version, occurred_at, user_id, name)| {
            OtmmEvent {
                event_id,
                event_type,
                otmm_event_id,
                asset_id: AssetId::parse(&asset).unwrap(),
                version,
                occurred_at,
                actor: Actor { user_id, name },
            }
        })
}

fn arb_consonance() -> impl Strategy<Value = ConsonanceEvent> {
    (
        arb_event_id(),
        prop::sample::select(ConsonanceEventType::ALL.to_vec()),
        prop::option::of(1i64..),
        prop::option::of(1i64..),
        prop::option::of(
            ("97[89]", "[0-9]{9}").prop_map(|(p, b)| Isbn13::from_prefix12(&format!("{p}{b}")).unwrap()),
        ),
        arb_time(),
        prop::collection::vec("\\PC{1,30}", 0..5),
    )
        .prop_filter("one identifier", |t| t.2.is_some() || t.3.is_some() || t.4.is_some())
        .prop_map(|(event_id, event_type, w, p, isbn, changed_at, fields)| ConsonanceEvent {
            event_id,
            event_type,
            work_id: w.map(WorkId),
            product_id: p.map(ProductId),
            isbn,
            changed_at,
            fields,
        })
}

fn arb_event() -> impl Strategy<Value = InboundEvent> {
    prop_oneof![arb_otmm().prop_map(InboundEvent::Otmm), arb_consonance().prop_map(InboundEvent::Consonance)]
}

proptest! {
    #[test]
    fn any_valid_event_body_parses_back_to_itself(e in arb_event()) {
        let parsed = parse_event(e.source(), &e.to_body()).unwrap();
        prop_assert_eq!(&parsed, &e);
        prop_assert_eq!(parsed.payload_hash(), e.payload_hash());
    }

    #[test]
    fn any_flow_message_round_trips(e in arb_event(), at in arb_time(), corr in "[a-z0-9-]{1,40}") {
        let m = FlowMessage::new(e, at, corr);
        prop_assert_eq!(FlowMessage::from_json(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn no_byte_string_makes_the_parser_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for source in Source::ALL {
            let _ = parse_event(source, &bytes);
        }
    }

    #[test]
    fn mutated_valid_bodies_never_panic_and_errors_name_a_field(
        e in arb_event(),
        cut in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut body = e.to_body();
        let i = cut.index(body.len());
        body[i] = byte;
        if let Err(err) = parse_event(e.source(), &body) {
            let j = err.to_json();
            prop_assert!(j["error"].is_string() && j["message"].is_string());
        }
        body.truncate(i);
        let _ = parse_event(e.source(), &body);
    }

    #[test]
    fn arbitrary_json_objects_never_panic(
        v in prop::collection::btree_map(
            prop::sample::select(vec!["event_id", "event_type", "asset_id", "version", "occurred_at", "actor",
                "otmm_event_id", "work_id", "product_id", "isbn", "changed_at", "fields", "x"]),
            prop_oneof![
                Just(Value::Null), any::<bool>().prop_map(Value::from), any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
                "\\PC{0,50}".prop_map(Value::from), Just(json!({"user_id": 1})), Just(json!([1, "a"])),
            ],
            0..13,
        )
    ) {
        let body = serde_json::to_vec(&v).unwrap();
        for source in Source::ALL {
            let _ = parse_event(source, &body);
        }
    }
}

#[test]
fn a_derived_id_is_the_text_when_valid_and_never_a_shared_constant() {
    let valid = "reconcile-r1-5e00000000000000000000000000000000000042-v3";
    assert_eq!(EventId::derived(valid).as_str(), valid);
    // Too long: cut, with a digest of the whole text, so two long texts that share their first
    // 111 characters still get two ids (the old fallback gave both "reconcile").
    let long_a = format!("reconcile-{}-a", "x".repeat(200));
    let long_b = format!("reconcile-{}-b", "x".repeat(200));
    let (a, b) = (EventId::derived(&long_a), EventId::derived(&long_b));
    assert_ne!(a, b);
    assert_eq!(a.as_str().len(), MAX_EVENT_ID_LEN);
    assert!(a.as_str().starts_with("reconcile-xxx"));
    // Characters an id cannot hold become "-", and the digest keeps "a b" apart from "a-b".
    let spaced = EventId::derived("a b");
    assert!(spaced.as_str().starts_with("a-b-"), "{spaced}");
    assert_ne!(spaced, EventId::derived("a-b"));
    assert_eq!(EventId::derived("").as_str(), "derived");
}

proptest! {
    /// Any text gives a valid id, the same one every time.
    #[test]
    fn any_text_derives_a_valid_stable_id(text in ".{0,300}") {
        let id = EventId::derived(&text);
        prop_assert!(EventId::parse(id.as_str()).is_ok(), "{:?} -> {:?}", text, id);
        prop_assert_eq!(id, EventId::derived(&text));
    }
}
