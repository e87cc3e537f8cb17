//! Bulk (RFC 7644 §3.7): POST, PUT, PATCH and DELETE of users and groups in
//! one request, `bulkId` references (forward ones too; circles refused with
//! 409), `failOnErrors`, per-operation results, one failure undoing nothing
//! else, the limits of §3.7.4 (413), 1,000 operations at once, the tenant's
//! rate limit counted by operations, and bad requests as SCIM 400s.

use super::*;
use std::time::Duration;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

on_both_backends!(
    posts_puts_patches_and_deletes_of_users_and_groups_run_in_one_request,
    a_group_names_users_created_earlier_in_the_request_by_their_bulk_ids,
    a_forward_reference_runs_the_post_it_names_first,
    a_patch_path_filter_names_a_user_by_its_bulk_id,
    a_circle_of_references_is_refused_with_409_and_creates_nothing,
    fail_on_errors_stops_the_request_after_that_many_failures,
    a_failed_operation_undoes_no_other_and_leaves_nothing_of_its_own,
    too_many_operations_or_too_large_a_body_is_413,
    a_thousand_operations_run_in_one_request,
    posts_run_side_by_side_keep_the_requests_order_where_it_matters,
    a_bulk_request_counts_against_the_rate_limit_by_its_operations,
    bad_bulk_requests_are_scim_400s_and_run_nothing,
    operations_emit_their_events_under_the_bulk_requests_id_and_are_audited,
    bulk_switched_off_answers_501_and_says_so_in_service_provider_config,
);

fn bulk_body(ops: Value) -> Value {
    json!({"schemas": [BULK_REQUEST], "Operations": ops})
}

async fn bulk(s: &Server, ops: Value) -> Resp {
    s.post("/Bulk", bulk_body(ops)).await
}

fn post_user(bulk_id: &str, user_name: &str) -> Value {
    json!({"method": "POST", "path": "/Users", "bulkId": bulk_id,
           "data": {"schemas": [USER], "userName": user_name, "active": true}})
}

fn post_group(bulk_id: &str, name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"method": "POST", "path": "/Groups", "bulkId": bulk_id,
           "data": {"schemas": [GROUP], "displayName": name, "members": members}})
}

/// The results of a BulkResponse, checked to be one (§3.7.3).
#[track_caller]
fn results(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_eq!(r.body["schemas"], json!([BULK_RESPONSE]), "{}", r.body);
    r.body["Operations"].as_array().unwrap().clone()
}

/// The id at the end of a result's `location`.
fn id_in(result: &Value) -> String {
    result["location"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map_or(Vec::new(), |m| m.iter().map(|m| m["value"].as_str().unwrap().into()).collect());
    ids.sort();
    ids
}

/// RFC 7644 §3.7: every method on both resource types, each result with its
/// `status` (a string), `location`, `version` and `bulkId`, and no body.
async fn posts_puts_patches_and_deletes_of_users_and_groups_run_in_one_request(b: Backend) {
    let s = start(b).await;
    let kept = Server::id_of(&s.create_user("kept@x.org").await);
    let gone = Server::id_of(&s.create_user("gone@x.org").await);
    let team = Server::id_of(&s.create_group("Team").await);
    let old = Server::id_of(&s.create_group("Old").await);
    let r = bulk(
        &s,
        json!([
            post_user("u1", "new@x.org"),
            {"method": "PUT", "path": format!("/Users/{kept}"), "version": "W/\"1\"",
             "data": {"schemas": [USER], "userName": "kept@x.org", "title": "Engineer"}},
            {"method": "PATCH", "path": format!("/Groups/{team}"), "data": {"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": "bulkId:u1"}, {"value": kept}]}]}},
            {"method": "DELETE", "path": format!("/Users/{gone}")},
            {"method": "DELETE", "path": format!("/Groups/{old}"), "version": "W/\"1\""},
            {"method": "PATCH", "path": "/Users/bulkId:u1", "data": {"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "displayName", "value": "New Person"}]}},
            {"method": "PUT", "path": format!("/Groups/{team}"), "bulkId": "put-team",
             "data": {"schemas": [GROUP], "displayName": "Team A", "members": [{"value": "bulkId:u1"}]}},
        ]),
    )
    .await;
    let ops = results(&r);
    assert_eq!(ops.len(), 7, "{}", r.body);
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "200", "200", "204", "204", "200", "200"], "{}", r.body);
    let methods: Vec<&str> = ops.iter().map(|o| o["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["POST", "PUT", "PATCH", "DELETE", "DELETE", "PATCH", "PUT"]);
    assert_eq!(ops[0]["bulkId"], "u1");
    assert_eq!(ops[6]["bulkId"], "put-team");
    assert!(ops.iter().all(|o| o.get("response").is_none()), "a success carries no body: {}", r.body);
    let new = id_in(&ops[0]);
    // Locations are what single requests' Location headers are.
    assert_eq!(ops[0]["location"], format!("{}/Users/{new}", s.base));
    assert_eq!(ops[1]["location"], format!("{}/Users/{kept}", s.base));
    assert_eq!(ops[2]["location"], format!("{}/Groups/{team}", s.base));
    assert_eq!(ops[3]["location"], format!("{}/Users/{gone}", s.base));
    assert_eq!(ops[5]["location"], format!("{}/Users/{new}", s.base));
    assert!(ops[3].get("version").is_none() && ops[4].get("version").is_none());

    // Each result's version is the resource's ETag after its operation.
    let u = s.get(&format!("/Users/{new}")).await;
    assert_eq!(u.body["displayName"], "New Person");
    assert_eq!(ops[0]["version"], "W/\"1\"");
    assert_eq!(ops[5]["version"].as_str(), u.header("etag"));
    let k = s.get(&format!("/Users/{kept}")).await;
    assert_eq!(k.body["title"], "Engineer");
    assert_eq!(ops[1]["version"], "W/\"2\"");
    s.get(&format!("/Users/{gone}")).await.assert_error(404, None);
    s.get(&format!("/Groups/{old}")).await.assert_error(404, None);
    // The PATCH added both; the PUT after it left only the new user.
    let g = s.get(&format!("/Groups/{team}")).await;
    assert_eq!(g.body["displayName"], "Team A");
    assert_eq!(member_ids(&g.body), vec![new.clone()]);
    assert_eq!(ops[6]["version"].as_str(), g.header("etag"));
    assert_eq!(ops[2]["version"], "W/\"2\"");
}

/// RFC 7644 §3.7.2: a group created with members that are users created
/// earlier in the same request, named by their bulkIds; `location` uses
/// the same base URL as single requests (`--public-url` here).
async fn a_group_names_users_created_earlier_in_the_request_by_their_bulk_ids(b: Backend) {
    let config = Config { public_url: Some("https://scim.example.com/idp".into()), ..test_config() };
    let s = start_with(b, config).await;
    let r = bulk(
        &s,
        json!([
            post_user("alice", "alice@x.org"),
            post_user("bob", "bob@x.org"),
            post_group("eng", "Engineering", &["bulkId:alice", "bulkId:bob"]),
        ]),
    )
    .await;
    let ops = results(&r);
    assert_eq!(ops.iter().map(|o| o["status"].as_str().unwrap()).collect::<Vec<_>>(), ["201", "201", "201"]);
    let (alice, bob, eng) = (id_in(&ops[0]), id_in(&ops[1]), id_in(&ops[2]));
    assert_eq!(ops[2]["location"], format!("https://scim.example.com/idp/scim/v2/acme/Groups/{eng}"));
    let g = s.get(&format!("/Groups/{eng}")).await;
    assert_eq!(g.status, 200);
    let mut expected = vec![alice.clone(), bob];
    expected.sort();
    assert_eq!(member_ids(&g.body), expected);
    assert_eq!(g.body["meta"]["location"], ops[2]["location"]);
    let a = s.get(&format!("/Users/{alice}")).await;
    assert_eq!(a.body["groups"][0]["value"], eng.as_str());
}

/// RFC 7644 §3.7.2: an operation may name a bulkId a later operation
/// defines; that POST runs first, and the results keep the request's order.
async fn a_forward_reference_runs_the_post_it_names_first(b: Backend) {
    let s = start(b).await;
    let r = bulk(
        &s,
        json!([
            post_group("g", "Forward", &["bulkId:later"]),
            {"method": "PATCH", "path": "/Users/bulkId:later", "data": {"schemas": [PATCH_OP],
             "Operations": [{"op": "replace", "path": "title", "value": "Patched"}]}},
            post_user("later", "later@x.org"),
        ]),
    )
    .await;
    let ops = results(&r);
    let bulk_ids: Vec<&str> = ops.iter().map(|o| o["bulkId"].as_str().unwrap_or("-")).collect();
    assert_eq!(bulk_ids, ["g", "-", "later"], "results in the request's order: {}", r.body);
    assert_eq!(ops.iter().map(|o| o["status"].as_str().unwrap()).collect::<Vec<_>>(), ["201", "200", "201"]);
    let (group, user) = (id_in(&ops[0]), id_in(&ops[2]));
    assert_eq!(id_in(&ops[1]), user);
    assert_eq!(member_ids(&s.get(&format!("/Groups/{group}")).await.body), vec![user.clone()]);
    assert_eq!(s.get(&format!("/Users/{user}")).await.body["title"], "Patched");
}

/// RFC 7644 §3.7.2: a reference inside a PatchOp path's filter
/// (`members[value eq "bulkId:u"]`) is resolved like any other, and orders
/// the POST it names first.
async fn a_patch_path_filter_names_a_user_by_its_bulk_id(b: Backend) {
    let s = start(b).await;
    let group = Server::id_of(&s.create_group("Existing").await);
    let r = bulk(
        &s,
        json!([
            {"method": "PATCH", "path": format!("/Groups/{group}"), "data": {"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]},
                {"op": "remove", "path": "members[value eq \"bulkId:u1\"]"}]}},
            post_user("u1", "u1@x.org"),
            post_user("u2", "u2@x.org"),
        ]),
    )
    .await;
    let ops = results(&r);
    assert_eq!(ops.iter().map(|o| o["status"].as_str().unwrap()).collect::<Vec<_>>(), ["200", "201", "201"]);
    let u2 = id_in(&ops[2]);
    assert_eq!(member_ids(&s.get(&format!("/Groups/{group}")).await.body), vec![u2], "{}", r.body);
}

/// RFC 7644 §3.7.1: two groups each a member of the other. scimd takes the
/// RFC's option to answer 409 instead of creating one and patching it later
/// (two writes for one operation); what names the circle is not run either,
/// and operations outside it run.
async fn a_circle_of_references_is_refused_with_409_and_creates_nothing(b: Backend) {
    let s = start(b).await;
    let r = bulk(
        &s,
        json!([
            post_group("ytrewq", "Tour Guides", &["bulkId:qwerty"]),
            post_group("qwerty", "Tour Guides Too", &["bulkId:ytrewq"]),
            post_group("outer", "Names The Circle", &["bulkId:qwerty"]),
            post_group("self", "Names Itself", &["bulkId:self"]),
            post_user("u", "fine@x.org"),
        ]),
    )
    .await;
    let ops = results(&r);
    assert_eq!(ops.len(), 5, "{}", r.body);
    for op in &ops[..2] {
        assert_eq!(op["status"], "409", "{}", r.body);
        assert!(op.get("location").is_none(), "a failed POST has no location: {op}");
        let detail = op["response"]["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("operation 1 ('ytrewq'), operation 2 ('qwerty') name each other's bulkIds in a circle"),
            "{detail}"
        );
        assert!(detail.contains("then add the references with PATCH operations"), "{detail}");
        assert_eq!(op["response"]["schemas"], json!([ERROR]));
        assert_eq!(op["response"]["status"], "409");
    }
    assert_eq!(ops[2]["status"], "409");
    assert_eq!(
        ops[2]["response"]["detail"],
        "operation 3 names 'bulkId:qwerty', but operation 2 (POST /Groups), which has that bulkId, created nothing: \
         this operation was not run"
    );
    assert_eq!(ops[3]["status"], "409");
    assert!(ops[3]["response"]["detail"].as_str().unwrap().starts_with("operation 4 ('self') names its own bulkId"));
    assert_eq!(ops[4]["status"], "201");
    assert_eq!(s.get("/Groups").await.body["totalResults"], 0, "no group of the circle was created");
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
}

/// RFC 7644 §3.7: `failOnErrors` is how many errors end the request; the
/// response lists only the operations that ran.
async fn fail_on_errors_stops_the_request_after_that_many_failures(b: Backend) {
    let s = start(b).await;
    s.create_user("taken@x.org").await;
    let ops = json!([
        post_user("a", "a@x.org"),
        post_user("dup", "TAKEN@x.org"),
        post_user("b", "b@x.org"),
        {"method": "DELETE", "path": "/Users/no-such-user"},
        post_user("c", "c@x.org"),
    ]);
    let r = s.post("/Bulk", json!({"schemas": [BULK_REQUEST], "failOnErrors": 1, "Operations": ops})).await;
    let done = results(&r);
    assert_eq!(done.iter().map(|o| o["status"].as_str().unwrap()).collect::<Vec<_>>(), ["201", "409"], "{}", r.body);
    let names = |body: &Value| -> Vec<String> {
        let mut n: Vec<String> =
            body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_string()).collect();
        n.sort();
        n
    };
    assert_eq!(names(&s.get("/Users").await.body), ["a@x.org", "taken@x.org"], "nothing after the first error ran");

    // Two errors allowed: the second one ends it.
    let ops = json!([
        post_user("d", "d@x.org"),
        post_user("dup", "taken@x.org"),
        post_user("e", "e@x.org"),
        {"method": "DELETE", "path": "/Users/no-such-user"},
        post_user("f", "f@x.org"),
    ]);
    let r = s.post("/Bulk", json!({"schemas": [BULK_REQUEST], "failOnErrors": 2, "Operations": ops.clone()})).await;
    let done = results(&r);
    let statuses: Vec<&str> = done.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "409", "201", "404"], "{}", r.body);
    assert_eq!(done[3]["location"], format!("{}/Users/no-such-user", s.base));
    assert!(!names(&s.get("/Users").await.body).contains(&"f@x.org".to_string()));

    // Without it every operation runs, whatever fails.
    let ops = json!([post_user("dup", "taken@x.org"), {"method": "DELETE", "path": "/Users/nope"}, post_user("f", "f@x.org")]);
    let done = results(&bulk(&s, ops).await);
    assert_eq!(done.iter().map(|o| o["status"].as_str().unwrap()).collect::<Vec<_>>(), ["409", "404", "201"]);
}

/// RFC 7644 §3.7: Bulk is not atomic. A uniqueness conflict, a stale
/// version and a missing resource fail their operations alone, each with
/// the SCIM error its single request would get; a group naming a user whose
/// POST failed is not created without it.
async fn a_failed_operation_undoes_no_other_and_leaves_nothing_of_its_own(b: Backend) {
    let s = start(b).await;
    let held = Server::id_of(&s.create_user("held@x.org").await);
    let r = bulk(
        &s,
        json!([
            post_user("first", "first@x.org"),
            post_user("clash", "HELD@x.org"),
            post_group("g", "Needs Clash", &["bulkId:first", "bulkId:clash"]),
            {"method": "PUT", "path": format!("/Users/{held}"), "version": "W/\"9\"",
             "data": {"schemas": [USER], "userName": "held@x.org", "title": "Stale"}},
            {"method": "PATCH", "path": "/Groups/no-such-group", "data": {"schemas": [PATCH_OP],
             "Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:first"}]}]}},
            post_user("last", "last@x.org"),
        ]),
    )
    .await;
    let ops = results(&r);
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "409", "409", "412", "404", "201"], "{}", r.body);
    let clash = &ops[1]["response"];
    assert_eq!(clash["scimType"], "uniqueness");
    assert!(clash["detail"].as_str().unwrap().contains(&held), "the clash names the holder: {clash}");
    assert!(ops[1].get("location").is_none());
    assert!(ops[2]["response"]["detail"].as_str().unwrap().contains("'bulkId:clash'"), "{}", ops[2]);
    assert!(ops[3]["response"]["detail"].as_str().unwrap().contains("If-Match is W/\"9\""), "{}", ops[3]);
    assert_eq!(ops[3]["location"], format!("{}/Users/{held}", s.base));
    assert_eq!(ops[4]["location"], format!("{}/Groups/no-such-group", s.base));
    // The successes stay; the failures left nothing.
    assert_eq!(s.get(&format!("/Users/{}", id_in(&ops[0]))).await.status, 200);
    assert_eq!(s.get(&format!("/Users/{}", id_in(&ops[5]))).await.status, 200);
    assert_eq!(s.get("/Groups").await.body["totalResults"], 0);
    assert!(s.get(&format!("/Users/{held}")).await.body.get("title").is_none());
    assert_eq!(s.get("/Users").await.body["totalResults"], 3);
}

/// RFC 7644 §3.7.4: more operations than maxOperations, or a body larger
/// than maxPayloadSize, is 413 naming the limit, and runs nothing;
/// ServiceProviderConfig advertises both numbers.
async fn too_many_operations_or_too_large_a_body_is_413(b: Backend) {
    let mut config = test_config();
    config.bulk = scimd::config::BulkLimits { max_operations: 5, max_payload_bytes: 4096 };
    let s = start_with(b, config).await;
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["bulk"], json!({"supported": true, "maxOperations": 5, "maxPayloadSize": 4096}));

    let six: Vec<Value> = (0..6).map(|i| post_user(&format!("u{i}"), &format!("u{i}@x.org"))).collect();
    let r = bulk(&s, json!(six)).await;
    r.assert_error(413, None);
    assert_eq!(
        r.body["detail"],
        "the Bulk request has 6 operations; this server accepts at most 5 (maxOperations, --bulk-max-operations)"
    );
    let five: Vec<Value> = (0..5).map(|i| post_user(&format!("u{i}"), &format!("u{i}@x.org"))).collect();
    assert_eq!(results(&bulk(&s, json!(five)).await).len(), 5, "maxOperations itself is allowed");

    let padded = json!([{"method": "POST", "path": "/Users", "bulkId": "big",
                         "data": {"schemas": [USER], "userName": "big@x.org", "title": "x".repeat(5000)}}]);
    let r = bulk(&s, padded.clone()).await;
    r.assert_error(413, None);
    assert_eq!(
        r.body["detail"],
        "the Bulk request is larger than this server accepts: maxPayloadSize is 4096 bytes (--bulk-max-payload-bytes)"
    );
    // Sent in chunks, without a length, it is refused as it passes the limit.
    let text = bulk_body(padded).to_string();
    let mut req = format!(
        "POST /scim/v2/acme/Bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n",
        s.token
    )
    .into_bytes();
    for chunk in text.as_bytes().chunks(1000) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let addr = s.root.trim_start_matches("http://").to_string();
    let answer =
        tokio::task::spawn_blocking(move || super::hardening::raw_exchange(&addr, &req, Duration::from_secs(5)))
            .await
            .unwrap();
    super::hardening::assert_scim_error_text(&answer, 413);
    assert!(answer.contains("maxPayloadSize is 4096 bytes"), "{answer}");
    assert_eq!(s.get("/Users").await.body["totalResults"], 5, "nothing of a refused request ran");
    // A single request is still held to --max-body-bytes, not to the Bulk limit.
    let mut config = test_config();
    config.max_body_bytes = 1024;
    let s = start_with(b, config).await;
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["bulk"], json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 1_048_576}));
    let r = s.post("/Users", json!({"schemas": [USER], "userName": "x@x.org", "title": "t".repeat(2000)})).await;
    r.assert_error(413, None);
    let r = bulk(
        &s,
        json!([{"method": "POST", "path": "/Users", "bulkId": "x",
                             "data": {"schemas": [USER], "userName": "x@x.org", "title": "t".repeat(2000)}}]),
    )
    .await;
    assert_eq!(results(&r)[0]["status"], "201");
}

/// The issue's own size: 1,000 operations in one request (900 users
/// created, then 100 PATCHes naming them by bulkId), all run.
async fn a_thousand_operations_run_in_one_request(b: Backend) {
    let s = start(b).await;
    let mut ops: Vec<Value> = (0..900).map(|i| post_user(&format!("u{i}"), &format!("user{i}@x.org"))).collect();
    ops.extend((0..100).map(|i| {
        json!({"method": "PATCH", "path": format!("/Users/bulkId:u{}", i * 9), "data": {"schemas": [PATCH_OP],
               "Operations": [{"op": "replace", "path": "title", "value": format!("t{i}")}]}})
    }));
    let started = std::time::Instant::now();
    let r = bulk(&s, json!(ops)).await;
    let took = started.elapsed();
    let done = results(&r);
    assert_eq!(done.len(), 1000);
    assert!(done[..900].iter().all(|o| o["status"] == "201"), "{}", r.body);
    assert!(done[900..].iter().all(|o| o["status"] == "200"), "{}", r.body);
    assert_eq!(id_in(&done[900]), id_in(&done[0]));
    assert_eq!(s.get("/Users?count=1").await.body["totalResults"], 900);
    let patched = s.get(&format!("/Users/{}", id_in(&done[9 * 99]))).await;
    assert_eq!(patched.body["title"], "t99");
    eprintln!("1,000 Bulk operations on {b:?}: {took:?} (debug build)");
}

/// Independent POSTs run side by side (their writes share commits), but the
/// result is what running them one after the other gives (RFC 7644 §3.7:
/// operations are processed in order): of two POSTs of one userName the
/// first wins, whatever their case; a PATCH between POSTs sees the POST
/// before it and not the one after; results come back in request order.
async fn posts_run_side_by_side_keep_the_requests_order_where_it_matters(b: Backend) {
    let s = start(b).await;
    let mut ops: Vec<Value> = (0..40).map(|i| post_user(&format!("u{i}"), &format!("user{i}@x.org"))).collect();
    ops.insert(5, post_user("dup", "USER2@x.org"));
    ops.insert(
        20,
        json!({"method": "PATCH", "path": "/Users/bulkId:u3", "data": {"schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "title", "value": "patched"}]}}),
    );
    ops.push(post_user("late", "user39@X.org"));
    let r = bulk(&s, json!(ops)).await;
    let done = results(&r);
    assert_eq!(done.len(), 43, "{}", r.body);
    let statuses: Vec<&str> = done.iter().map(|o| o["status"].as_str().unwrap()).collect();
    let failed: Vec<usize> = statuses.iter().enumerate().filter(|(_, s)| **s != "201").map(|(i, _)| i).collect();
    assert_eq!(failed, [5, 20, 42], "the later POST of a userName fails, the PATCH is not a create: {statuses:?}");
    assert_eq!(statuses[5], "409");
    assert_eq!(statuses[20], "200");
    assert_eq!(statuses[42], "409");
    assert_eq!(done[5]["bulkId"], "dup");
    let first = s.get(&format!("/Users/{}", id_in(&done[2]))).await;
    assert_eq!(first.body["userName"], "user2@x.org", "the first POST of the name holds it");
    assert_eq!(s.get(&format!("/Users/{}", id_in(&done[3]))).await.body["title"], "patched");
    assert_eq!(s.get("/Users?count=1").await.body["totalResults"], 40);
}

/// A Bulk request counts against the tenant's rate limit by its operations:
/// it runs when the bucket covers them all, and is refused whole (429 with
/// Retry-After, nothing run) when it does not. A tenant whose burst is
/// smaller than --bulk-max-operations is told so in ServiceProviderConfig,
/// and a longer request is 413.
async fn a_bulk_request_counts_against_the_rate_limit_by_its_operations(b: Backend) {
    let mut config = test_config();
    // Ten in a burst, refilled once every 100 s: the test sees no refill.
    config.tenant_rate = scimd::ratelimit::Rate { per_second: 0.01, burst: 10.0 };
    let s = start_with(b, config).await;
    let spc = s.get("/ServiceProviderConfig").await; // 9 left
    assert_eq!(spc.body["bulk"]["maxOperations"], 10, "{}", spc.body);
    let four: Vec<Value> = (0..4).map(|i| post_user(&format!("a{i}"), &format!("a{i}@x.org"))).collect();
    assert_eq!(results(&bulk(&s, json!(four)).await).len(), 4); // 5 left
    let six: Vec<Value> = (0..6).map(|i| post_user(&format!("b{i}"), &format!("b{i}@x.org"))).collect();
    let r = bulk(&s, json!(six)).await; // needs 6, has 5: the request's own is spent, 4 left
    r.assert_error(429, None);
    assert!(r.header("retry-after").is_some_and(|v| v.parse::<u64>().is_ok_and(|n| n >= 100)), "{:?}", r.headers);
    assert!(r.body["detail"].as_str().unwrap().contains("each operation of a Bulk request counts as one"));
    let eleven: Vec<Value> = (0..11).map(|i| post_user(&format!("c{i}"), &format!("c{i}@x.org"))).collect();
    let r = bulk(&s, json!(eleven)).await; // 3 left
    r.assert_error(413, None);
    assert!(r.body["detail"].as_str().unwrap().contains("bursts of 10 requests"), "{}", r.body);
    // Single requests still pass: the refused Bulk took only its own request's token.
    let listed = s.get("/Users").await; // 2 left
    assert_eq!(listed.body["totalResults"], 4, "nothing of a refused request ran");
    let three: Vec<Value> = (0..3).map(|i| post_user(&format!("d{i}"), &format!("d{i}@x.org"))).collect();
    bulk(&s, json!(three)).await.assert_error(429, None); // 1 left
    let two: Vec<Value> = (0..1).map(|i| post_user(&format!("e{i}"), &format!("e{i}@x.org"))).collect();
    assert_eq!(results(&bulk(&s, json!(two)).await)[0]["status"], "201"); // 0 left
    s.get("/Users").await.assert_error(429, None);
}

/// Bad requests are refused whole, before any operation runs, with a SCIM
/// 400 whose `scimType` and `detail` say what is wrong and where.
async fn bad_bulk_requests_are_scim_400s_and_run_nothing(b: Backend) {
    let s = start(b).await;
    let ok = post_user("ok", "ok@x.org");
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!([ok]), "invalidSyntax", "a Bulk request must be a JSON object"),
        (
            json!({"schemas": [PATCH_OP], "Operations": [ok]}),
            "invalidSyntax",
            "a Bulk request's 'schemas' must contain 'urn:ietf:params:scim:api:messages:2.0:BulkRequest'",
        ),
        (json!({"schemas": [BULK_REQUEST]}), "invalidSyntax", "a Bulk request needs an 'Operations' array"),
        (bulk_body(json!([])), "invalidValue", "'Operations' is empty: send at least one operation"),
        (
            bulk_body(json!([ok, {"path": "/Users/1"}])),
            "invalidSyntax",
            "operation 2 has no 'method' (POST, PUT, PATCH or DELETE)",
        ),
        (
            bulk_body(json!([ok, {"method": "GET", "path": "/Users/1"}])),
            "invalidSyntax",
            "operation 2: 'GET' is not a Bulk method (POST, PUT, PATCH or DELETE)",
        ),
        (
            bulk_body(json!([ok, {"method": "DELETE", "path": "/Roles/1"}])),
            "invalidValue",
            "operation 2 (DELETE /Roles/1): the path names no endpoint a Bulk operation reaches: they are /Users and \
             /Groups",
        ),
        (
            bulk_body(json!([ok, {"method": "PATCH", "path": "/Users", "data": {}}])),
            "invalidValue",
            "operation 2 (PATCH /Users): it names one resource, such as /Users/{id} or /Groups/bulkId:{bulkId}",
        ),
        (
            bulk_body(json!([ok, {"method": "POST", "path": "/Users", "data": {"userName": "x"}}])),
            "invalidValue",
            "operation 2 (POST /Users) has no 'bulkId': every POST needs one (RFC 7644 §3.7), so that the response \
             can say which resource it created and other operations can name it",
        ),
        (
            bulk_body(json!([ok, post_user("ok", "other@x.org")])),
            "invalidValue",
            "operation 2 has the bulkId 'ok', as operation 1 has; each operation's bulkId must be unique within the \
             request",
        ),
        (
            bulk_body(json!([ok, post_group("g", "G", &["bulkId:missing"])])),
            "invalidValue",
            "operation 2 (POST /Groups) names 'bulkId:missing', but no operation of this request has that bulkId",
        ),
        (
            json!({"schemas": [BULK_REQUEST], "failOnErrors": 0, "Operations": [ok]}),
            "invalidValue",
            "'failOnErrors' is 0; it must be a whole number of at least 1: after that many failed operations the \
             rest are not run",
        ),
    ];
    for (body, scim_type, detail) in cases {
        let r = s.post("/Bulk", body.clone()).await;
        r.assert_error(400, Some(scim_type));
        assert_eq!(r.body["detail"], detail, "{body}");
    }
    let r = s
        .raw(Method::POST, "/Bulk", Some("{\"Operations\": [".into()), &[("Content-Type", "application/scim+json")])
        .await;
    r.assert_error(400, Some("invalidSyntax"));
    // An operation's data is checked as its single request's body is, and fails that operation alone.
    let done = results(
        &bulk(&s, json!([{"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "x"}}])).await,
    );
    assert_eq!(done[0]["status"], "400");
    assert_eq!(done[0]["response"]["scimType"], "invalidValue");
    assert_eq!(
        done[0]["response"]["detail"],
        s.post("/Users", json!({"userName": "x"})).await.body["detail"],
        "the same words as a single POST"
    );
    assert_eq!(s.get("/Users").await.body["totalResults"], 0);
}

/// Each operation emits its events with the Bulk request's id as their
/// cause, and the request's one audit row lists what each changed and each
/// failure with what its client was told.
async fn operations_emit_their_events_under_the_bulk_requests_id_and_are_audited(b: Backend) {
    let s = start(b).await;
    s.create_user("taken@x.org").await;
    let r = bulk(
        &s,
        json!([post_user("u", "new@x.org"), post_user("dup", "taken@x.org"), post_group("g", "G", &["bulkId:u"])]),
    )
    .await;
    let done = results(&r);
    let request_id = r.header("x-request-id").unwrap().to_string();
    let (user, group) = (id_in(&done[0]), id_in(&done[2]));
    let events = s.feed_at_least("", 4).await;
    let caused: Vec<&Value> = events.iter().filter(|e| e["cause"]["request_id"] == request_id.as_str()).collect();
    let kinds: Vec<(&str, &str)> =
        caused.iter().map(|e| (e["type"].as_str().unwrap(), e["subject"]["id"].as_str().unwrap())).collect();
    assert_eq!(
        kinds,
        [("user.created", user.as_str()), ("group.created", group.as_str()), ("group.member_added", group.as_str())],
        "{events:?}"
    );
    assert!(caused.iter().all(|e| e["cause"]["actor"]["name"] == "okta"));
    let mut row = None;
    for _ in 0..1000 {
        let rows = s.adm(Method::GET, "/audit?limit=10", None).await;
        row = rows.body["data"].as_array().unwrap().iter().find(|r| r["request_id"] == request_id.as_str()).cloned();
        if row.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let row = row.expect("the Bulk request's audit row");
    assert_eq!(row["route"], "/scim/v2/{tenant}/Bulk");
    assert_eq!(row["status"], 200);
    let changes: Vec<&str> = row["changes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert!(
        changes.iter().any(|c| c.starts_with("bulk operation 2 (POST /Users) failed: 409 uniqueness: another User")),
        "{changes:?}"
    );
    assert!(changes.iter().any(|c| c.contains(&user)), "{changes:?}");
    assert_eq!(row["event_ids"].as_array().unwrap().len(), 3);
}

/// `--bulk-max-operations 0` switches Bulk off: ServiceProviderConfig says
/// it is unsupported and `/Bulk` answers 501.
async fn bulk_switched_off_answers_501_and_says_so_in_service_provider_config(b: Backend) {
    let mut config = test_config();
    config.bulk.max_operations = 0;
    let s = start_with(b, config).await;
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["bulk"], json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0}));
    let r = bulk(&s, json!([post_user("u", "u@x.org")])).await;
    r.assert_error(501, None);
    assert!(r.body["detail"].as_str().unwrap().contains("--bulk-max-operations 0"));
    assert_eq!(s.get("/Users").await.body["totalResults"], 0);
}
