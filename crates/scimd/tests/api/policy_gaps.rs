//! Issue 18, item 8: policy gaps the seed vendors still met — a hand-made
//! external user put in a group by id (Conviva), a mapping change that kept
//! manual roles (Conveyor).

use super::*;

on_both_backends!(
    a_user_hidden_from_scim_is_an_unknown_member_value,
    a_mapping_change_replaces_manual_roles_and_later_grants_survive
);

impl Server {
    /// Member ids of a group, as SCIM shows them, sorted.
    async fn member_ids(&self, group: &str) -> Vec<String> {
        let r = self.get(&format!("/Groups/{group}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let mut ids: Vec<String> = r.body["members"]
            .as_array()
            .map(|m| m.iter().filter_map(|m| m["value"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }
    async fn grant(&self, user: &str, ws: &str, role: &str) {
        let body = json!({"workspace": ws, "role": role});
        let r = self.adm(Method::POST, &format!("/users/{user}/roles"), Some(body)).await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    async fn map(&self, body: Value) -> String {
        let r = self.adm(Method::POST, "/group-mappings", Some(body)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        Server::id_of(&r.body)
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Conviva: external users stay out of Okta's hands. A hand-made user
/// outside the allowed domains is invisible to SCIM, so a group write that
/// names its id stores nothing for it (and its mapping gives it nothing).
async fn a_user_hidden_from_scim_is_an_unknown_member_value(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let g = Server::id_of(&s.create_group("Admins").await);
    s.map(json!({"group": "Admins", "workspace": "c3.acme", "role": "Admin"})).await;
    assert_eq!(s.adm(Method::PUT, "/policy", Some(json!({"allowed_domains": ["acme.com"]}))).await.status, 200);
    let vendor = Server::id_of(&s.adm(Method::POST, "/users", Some(json!({"userName": "vendor@other.io"}))).await.body);
    let hand = Server::id_of(&s.adm(Method::POST, "/users", Some(json!({"userName": "hand@acme.com"}))).await.body);
    let a = Server::id_of(&s.create_user("a@acme.com").await);
    s.get(&format!("/Users/{vendor}")).await.assert_error(404, None);

    // PATCH add (one value, then several), PUT, POST: never stored.
    s.add_member(&g, &vendor).await;
    assert_eq!(s.member_ids(&g).await, Vec::<String>::new());
    let values = json!([{"value": vendor}, {"value": a}, {"value": hand}]);
    let r = s.patch(&format!("/Groups/{g}"), json!([{"op": "add", "path": "members", "value": values}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.member_ids(&g).await,
        sorted(vec![a.clone(), hand.clone()]),
        "a hand-made user inside the domains is one"
    );
    let r = s
        .put(
            &format!("/Groups/{g}"),
            json!({"schemas": [GROUP], "displayName": "Admins", "members": [{"value": vendor}, {"value": a}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.member_ids(&g).await, vec![a.clone()]);
    let r = s.post("/Groups", json!({"schemas": [GROUP], "displayName": "New", "members": [{"value": vendor}]})).await;
    assert_eq!((r.status.as_u16(), r.body["members"].clone()), (201, json!([])), "{}", r.body);
    // A long list (checked before the write) leaves it out as well.
    let mut many: Vec<Value> = (0..120).map(|i| json!({"value": format!("made-up-{i}")})).collect();
    many.push(json!({"value": vendor}));
    many.push(json!({"value": a}));
    let r = s.post("/Groups", json!({"schemas": [GROUP], "displayName": "Many", "members": many})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["members"].as_array().map(Vec::len), Some(1), "{}", r.body);
    assert_eq!(r.body["members"][0]["value"], a);
    let r = s.get(&format!("/Groups?filter={}", q(&format!("members[value eq \"{vendor}\"]")))).await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.body);
    // No role from the mapping: only the default it was created with.
    assert_eq!(s.roles(&vendor).await, vec![w("c3.acme", "Viewer", "default")]);
    assert_eq!(s.roles(&a).await, vec![w("c3.acme", "Admin", &format!("group:{g}"))]);
}

/// Conveyor: "Once the new Role is assigned to a Group, the system removes
/// the assigned User(s) from all other Roles that might have been assigned
/// manually". A mapping's new role, a new mapping on a group, or a mapping
/// moved to another group replaces its members' manual non-protected roles
/// in that workspace; roles granted by hand after it stay, also after
/// leaving the group; a change of the licence type alone moves no role.
async fn a_mapping_change_replaces_manual_roles_and_later_grants_survive(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let sales = Server::id_of(&s.create_group("Sales").await);
    let leads = Server::id_of(&s.create_group("Leads").await);
    let u = Server::id_of(&s.create_user("u@acme.com").await);
    let x = Server::id_of(&s.create_user("x@acme.com").await);
    s.add_member(&sales, &u).await;
    s.add_member(&sales, &x).await;
    s.add_member(&leads, &x).await;
    let mapping = s.map(json!({"group": "Sales", "workspace": "c3.acme", "role": "Editor"})).await;
    let (sales_src, leads_src) = (format!("group:{sales}"), format!("group:{leads}"));
    // Granted by hand after the group role: kept beside it.
    for user in [&u, &x] {
        s.grant(user, "c3.acme", "Admin").await;
        s.grant(user, "c3.acme", "Billing Admin").await;
        s.grant(user, "c3.acme-eu", "Viewer").await;
    }
    let beside = vec![
        w("c3.acme", "Admin", "manual"),
        w("c3.acme", "Billing Admin", "manual"),
        w("c3.acme", "Editor", &sales_src),
        w("c3.acme-eu", "Viewer", "manual"),
    ];
    assert_eq!(s.roles(&u).await, beside);

    // Only the licence type moves: no role does.
    let body = json!({"group": sales, "workspace": "c3.acme", "role": "Editor", "licence_type": "Pro"});
    let r = s.adm(Method::PUT, &format!("/group-mappings/{mapping}"), Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.roles(&u).await, beside);

    // A new role for the mapping replaces the manual Admin in its workspace,
    // not the protected role, not the other workspace's.
    let body = json!({"group": sales, "workspace": "c3.acme", "role": "Viewer"});
    let r = s.adm(Method::PUT, &format!("/group-mappings/{mapping}"), Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let replaced = vec![
        w("c3.acme", "Billing Admin", "manual"),
        w("c3.acme", "Viewer", &sales_src),
        w("c3.acme-eu", "Viewer", "manual"),
    ];
    assert_eq!(s.roles(&u).await, replaced);
    assert_eq!(s.roles(&x).await, replaced);

    // Granted again after the change: it stays, and survives leaving the group.
    s.grant(&u, "c3.acme", "Admin").await;
    s.remove_member(&sales, &u).await;
    assert_eq!(
        s.roles(&u).await,
        vec![
            w("c3.acme", "Admin", "manual"),
            w("c3.acme", "Billing Admin", "manual"),
            w("c3.acme", "Viewer", "default"),
            w("c3.acme-eu", "Viewer", "manual"),
        ]
    );

    // A new mapping on a group whose role wins replaces what x was granted by hand since.
    s.grant(&x, "c3.acme", "Admin").await;
    assert!(s.roles(&x).await.contains(&w("c3.acme", "Admin", "manual")));
    s.map(json!({"group": "Leads", "workspace": "c3.acme", "role": "Editor"})).await;
    assert_eq!(
        s.roles(&x).await,
        vec![
            w("c3.acme", "Billing Admin", "manual"),
            w("c3.acme", "Editor", &leads_src),
            w("c3.acme-eu", "Viewer", "manual"),
        ]
    );

    // A mapping moved to another group: that group's members give way to it.
    let y = Server::id_of(&s.create_user("y@acme.com").await);
    let ops = Server::id_of(&s.create_group("Ops").await);
    s.add_member(&ops, &y).await;
    s.map(json!({"group": "Ops", "workspace": "c3.acme-eu", "role": "Viewer"})).await;
    s.grant(&y, "c3.acme-eu", "Admin").await;
    assert_eq!(
        s.roles(&y).await,
        vec![
            w("c3.acme", "Viewer", "default"),
            w("c3.acme-eu", "Admin", "manual"),
            w("c3.acme-eu", "Viewer", &format!("group:{ops}"))
        ]
    );
    s.add_member(&leads, &y).await;
    s.grant(&y, "c3.acme", "Viewer").await;
    assert!(s.roles(&y).await.contains(&w("c3.acme", "Viewer", "manual")));
    let body = json!({"group": ops, "workspace": "c3.acme", "role": "Admin"});
    let r = s.adm(Method::PUT, &format!("/group-mappings/{mapping}"), Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.roles(&y).await,
        vec![
            w("c3.acme", "Admin", &format!("group:{ops}")),
            w("c3.acme-eu", "Admin", "manual"),
            w("c3.acme-eu", "Viewer", &format!("group:{ops}"))
        ],
        "the moved mapping's role replaces the manual Viewer in c3.acme; c3.acme-eu keeps its manual role"
    );
    assert!(s.roles(&x).await.contains(&w("c3.acme", "Editor", &leads_src)), "Sales lost its mapping");
}
