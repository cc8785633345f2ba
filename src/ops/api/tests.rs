use std::collections::BTreeSet;

use super::*;

#[test]
fn the_openapi_document_lists_exactly_the_routes_that_exist() {
    let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| {
            let ops = ops.as_object().expect("operations");
            ops.keys().map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served);
}

#[test]
fn a_bad_body_names_its_field() {
    let bad = |text: &'static str| match body::<PauseBody>(Ok(Bytes::from_static(text.as_bytes())))
    {
        Err(ApiError::BadField { field, .. }) => field,
        other => panic!("not refused: {:?}", other.map(|_| ())),
    };
    assert_eq!(bad("{}"), "reason");
    assert_eq!(bad(r#"{"reason": 7}"#), "reason");
    assert_eq!(bad("{not json"), "body");
    assert_eq!(bad(r#"{"reason": "x", "extra": 1}"#), "extra");
    let skills = body::<BTreeMap<String, u8>>(Ok(Bytes::from_static(br#"{"support": 700}"#)));
    assert!(matches!(skills, Err(ApiError::BadField { field, .. }) if field == "support"));
}
