//! The admin API and the provisioning policy: domains, roles, group mappings, licences, deletion.

use super::*;

on_both_backends!(
    admin_api_needs_its_token_and_refuses_broken_configuration,
    scim_refuses_users_outside_the_allowed_domains,
    new_users_get_the_default_role_or_nothing,
    group_mappings_grant_the_highest_role,
    changing_a_mapping_moves_every_member,
    licences_count_seats_exactly,
    deactivation_suspends_and_reactivation_recomputes,
    soft_delete_keeps_the_user_for_restore,
    scim_managed_users_are_read_only_in_the_admin_api,
    the_domain_rule_holds_on_every_write,
    with_on_deactivate_none_a_deactivated_user_keeps_its_access,
    default_roles_have_a_ceiling,
    defaults_apply_at_creation_until_an_admin_reapplies_them,
    manual_roles_beside_a_group_role_stay_and_grants_never_vanish,
    mappings_by_name_bind_to_the_group_and_follow_renames,
    seats_never_fight_the_identity_provider,
    the_admin_api_speaks_to_people,
    workspaces_choose_their_own_lifecycle,
    external_users_are_invisible_to_scim,
    admin_answers_name_what_they_point_at
);

async fn admin_api_needs_its_token_and_refuses_broken_configuration(b: Backend) {
    let s = start(b).await;
    let r = s.raw(Method::GET, &format!("{}/policy", s.admin), None, &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["code"], "unauthorized");
    // A SCIM token is not an admin token.
    let r = s
        .raw(Method::GET, &format!("{}/policy", s.admin), None, &[("Authorization", &format!("Bearer {}", s.token))])
        .await;
    assert_eq!(r.status, 401);
    let r = s.adm(Method::GET, "/../../tenants/nope/policy", None).await;
    assert!(r.status == 404 || r.status == 401, "{}", r.status);
    s.configure_product().await;
    // A default role that SCIM may not grant.
    let r = s.adm(Method::PUT, "/policy", Some(json!({"default_role": "Billing Admin"}))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("not provisionable"), "{}", r.body);
    // A mapping to an unknown workspace, or a non-provisionable role.
    let r = s
        .adm(Method::POST, "/group-mappings", Some(json!({"group": "G", "workspace": "nope", "role": "Editor"})))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("no workspace 'nope'"), "{}", r.body);
    let r = s
        .adm(
            Method::POST,
            "/group-mappings",
            Some(json!({"group": "G", "workspace": "c3.acme", "role": "Billing Admin"})),
        )
        .await;
    assert_eq!(r.status, 400);
    // A workspace in use cannot go.
    let r = s.adm(Method::DELETE, &format!("/workspaces/{}", "c3.acme"), None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let detail = r.body["error"]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("workspace 'c3.acme' cannot be deleted: it is the policy's default workspace"),
        "{detail}"
    );
    // A role a mapping grants cannot go either, and the refusal names the mapping.
    let r = s
        .adm(
            Method::POST,
            "/group-mappings",
            Some(json!({"group": "Writers", "workspace": "c3.acme", "role": "Editor"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.adm(Method::DELETE, "/roles/Editor", None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let detail = r.body["error"]["detail"].as_str().unwrap();
    assert!(detail.contains("role 'Editor' cannot be deleted") && detail.contains("group 'Writers'"), "{detail}");
    assert!(detail.contains("workspace 'c3.acme'") && !detail.contains("does not exist"), "{detail}");
    let r = s.adm(Method::POST, "/roles", Some(json!({"name": "x", "rank": 1, "bogus": true}))).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["code"].clone()), (400, json!("invalid_request")));
    let r = s.adm(Method::GET, "/config", None).await;
    assert_eq!(r.body["roles"].as_array().unwrap().len(), 4);
    assert_eq!(r.body["policy"]["on_create"], "grant_default");
}

/// Rule 1: e-mail domains.
async fn scim_refuses_users_outside_the_allowed_domains(b: Backend) {
    let s = start(b).await;
    let r = s.adm(Method::PUT, "/policy", Some(json!({"allowed_domains": ["acme.com"]}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "vendor@other.io", "emails": [{"value": "vendor@other.io"}]}),
        )
        .await;
    r.assert_error(403, None);
    assert!(r.body["detail"].as_str().unwrap().contains("'other.io'"), "{}", r.body);
    let r = s
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "jo", "emails": [{"value": "jo@gmail.com", "type": "work"}]}),
        )
        .await;
    r.assert_error(403, None);
    assert_eq!(s.post("/Users", json!({"schemas": [USER], "userName": "a@ACME.com"})).await.status, 201);
    // External users are created by hand.
    let r = s.adm(Method::POST, "/users", Some(json!({"userName": "vendor@other.io"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["scim_managed"], false);
}

/// Rule 2: grant_default or no_access.
async fn new_users_get_the_default_role_or_nothing(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let u = Server::id_of(&s.create_user("a@acme.com").await);
    assert_eq!(s.roles(&u).await, vec![w("c3.acme", "Viewer", "default")]);
    let a = s.access(&u).await;
    assert_eq!((a["active"].clone(), a["scim_managed"].clone()), (json!(true), json!(true)));
    assert_eq!(a["licence"]["type"]["name"], "Basic");
    assert_eq!(a["licence"]["source"], "default");
    let r = s.adm(Method::PUT, "/policy", Some(json!({"on_create": "no_access"}))).await;
    assert_eq!(r.status, 200);
    let v = Server::id_of(&s.create_user("b@acme.com").await);
    assert_eq!(s.roles(&v).await, vec![]);
}

/// Rule 3: mapped groups, highest rank per workspace, leaving only removes what the group gave.
async fn group_mappings_grant_the_highest_role(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let editors = Server::id_of(&s.create_group("Editors").await);
    let admins = Server::id_of(&s.create_group("Admins").await);
    // By displayName (any case) and by id.
    let r = s
        .adm(
            Method::POST,
            "/group-mappings",
            Some(json!({"group": "editors", "workspace": "c3.acme", "role": "Editor"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s
        .adm(Method::POST, "/group-mappings", Some(json!({"group": admins, "workspace": "c3.acme", "role": "Admin"})))
        .await;
    assert_eq!(r.status, 201);
    let u = Server::id_of(&s.create_user("u@acme.com").await);
    for (ws, role) in [("c3.acme", "Viewer"), ("c3.acme-eu", "Viewer"), ("c3.acme", "Billing Admin")] {
        let r = s.adm(Method::POST, &format!("/users/{u}/roles"), Some(json!({"workspace": ws, "role": role}))).await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    assert_eq!(
        s.roles(&u).await,
        vec![
            w("c3.acme", "Billing Admin", "manual"),
            w("c3.acme", "Viewer", "default"),
            w("c3.acme", "Viewer", "manual"),
            w("c3.acme-eu", "Viewer", "manual")
        ]
    );
    s.add_member(&editors, &u).await;
    let g = format!("group:{editors}");
    assert_eq!(
        s.roles(&u).await,
        vec![w("c3.acme", "Billing Admin", "manual"), w("c3.acme", "Editor", &g), w("c3.acme-eu", "Viewer", "manual")],
        "the mapped role replaces the other non-protected roles of its workspace, manual ones too"
    );
    s.add_member(&admins, &u).await;
    let ga = format!("group:{admins}");
    assert_eq!(
        s.roles(&u).await,
        vec![w("c3.acme", "Admin", &ga), w("c3.acme", "Billing Admin", "manual"), w("c3.acme-eu", "Viewer", "manual")]
    );
    s.remove_member(&admins, &u).await;
    assert_eq!(
        s.roles(&u).await,
        vec![w("c3.acme", "Billing Admin", "manual"), w("c3.acme", "Editor", &g), w("c3.acme-eu", "Viewer", "manual")]
    );
    s.remove_member(&editors, &u).await;
    assert_eq!(
        s.roles(&u).await,
        vec![
            w("c3.acme", "Billing Admin", "manual"),
            w("c3.acme", "Viewer", "default"),
            w("c3.acme-eu", "Viewer", "manual")
        ],
        "with no mapped group left, the default role comes back (the replaced manual role does not)"
    );
    // Renaming a group onto a name a mapping waits for grants (a mapping bound
    // to another group's id does not move); deleting the group withdraws.
    let other = Server::id_of(&s.create_group("Other").await);
    s.add_member(&other, &u).await;
    s.patch(&format!("/Groups/{other}"), json!([{"op": "replace", "path": "displayName", "value": "Editors"}])).await;
    assert!(!s.roles(&u).await.contains(&w("c3.acme", "Editor", &format!("group:{other}"))));
    let r = s
        .adm(Method::POST, "/group-mappings", Some(json!({"group": "Later", "workspace": "c3.acme", "role": "Editor"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    s.patch(&format!("/Groups/{other}"), json!([{"op": "replace", "path": "displayName", "value": "Later"}])).await;
    assert!(s.roles(&u).await.contains(&w("c3.acme", "Editor", &format!("group:{other}"))));
    assert_eq!(s.delete(&format!("/Groups/{other}")).await.status, 204);
    assert!(s.roles(&u).await.contains(&w("c3.acme", "Viewer", "default")));
}

/// Rule 4: changing a mapping moves every member at once.
async fn changing_a_mapping_moves_every_member(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let g = Server::id_of(&s.create_group("Sales").await);
    let mut users = Vec::new();
    for i in 0..3 {
        let u = Server::id_of(&s.create_user(&format!("s{i}@acme.com")).await);
        s.add_member(&g, &u).await;
        users.push(u);
    }
    let r = s
        .adm(
            Method::POST,
            "/group-mappings",
            Some(json!({"group": "Sales", "workspace": "c3.acme-eu", "role": "Editor"})),
        )
        .await;
    let mapping = Server::id_of(&r.body);
    let src = format!("group:{g}");
    for u in &users {
        assert!(s.roles(u).await.contains(&w("c3.acme-eu", "Editor", &src)));
    }
    let r = s
        .adm(
            Method::PUT,
            &format!("/group-mappings/{mapping}"),
            Some(json!({"group": "Sales", "workspace": "c3.acme-eu", "role": "Admin"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for u in &users {
        assert_eq!(s.roles(u).await, vec![w("c3.acme", "Viewer", "default"), w("c3.acme-eu", "Admin", &src)]);
    }
    assert_eq!(s.adm(Method::DELETE, &format!("/group-mappings/{mapping}"), None).await.status, 204);
    for u in &users {
        assert_eq!(s.roles(u).await, vec![w("c3.acme", "Viewer", "default")]);
    }
}

/// Rule 5: licences, exact seat counts under concurrency, reject or create_unlicensed.
async fn licences_count_seats_exactly(b: Backend) {
    let s = std::sync::Arc::new(start(b).await);
    s.configure_product().await;
    let r = s.adm(Method::PATCH, "/licence-types/Basic", Some(json!({"seat_limit": 5}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.post("/Users", json!({"schemas": [USER], "userName": format!("c{i}@acme.com")})).await
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 201 {
            created += 1;
        } else {
            r.assert_error(409, None);
            assert!(
                r.body["detail"].as_str().unwrap().contains("no seats left for licence type 'Basic'"),
                "{}",
                r.body
            );
        }
    }
    assert_eq!(created, 5, "exactly the seat limit");
    let listed = s.get("/Users?count=0").await.body["totalResults"].clone();
    assert_eq!(listed, 5, "a refused create writes nothing");
    // Group rules override the default: moving a user to Pro frees a Basic seat.
    let pro = Server::id_of(&s.create_group("Pro users").await);
    let r = s.adm(Method::POST, "/group-mappings", Some(json!({"group": "Pro users", "licence_type": "Pro"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let first = s.ids("/Users?count=1").await[0].clone();
    s.add_member(&pro, &first).await;
    let a = s.access(&first).await;
    assert_eq!(
        (a["licence"]["type"]["name"].clone(), a["licence"]["source"].clone()),
        (json!("Pro"), json!(format!("group:{pro}")))
    );
    assert_eq!(s.post("/Users", json!({"schemas": [USER], "userName": "sixth@acme.com"})).await.status, 201);
    s.post("/Users", json!({"schemas": [USER], "userName": "seventh@acme.com"})).await.assert_error(409, None);
    // create_unlicensed: the user is created, without a licence, and /access says why.
    s.adm(Method::PUT, "/policy", Some(json!({"seats_exhausted": "create_unlicensed"}))).await;
    let r = s.post("/Users", json!({"schemas": [USER], "userName": "eighth@acme.com"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let a = s.access(&Server::id_of(&r.body)).await;
    assert_eq!(a["licence_status"], "unlicensed_no_seats");
    assert_eq!(a["licence"]["wanted"]["name"], "Basic");
}

/// Rule 6: deactivation revokes all but protected roles and releases the seat; reactivation recomputes.
async fn deactivation_suspends_and_reactivation_recomputes(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let g = Server::id_of(&s.create_group("EU editors").await);
    s.adm(
        Method::POST,
        "/group-mappings",
        Some(json!({"group": "EU editors", "workspace": "c3.acme-eu", "role": "Editor"})),
    )
    .await;
    s.adm(Method::PATCH, "/licence-types/Basic", Some(json!({"seat_limit": 1}))).await;
    let u = Server::id_of(&s.create_user("d@acme.com").await);
    s.add_member(&g, &u).await;
    s.adm(Method::POST, &format!("/users/{u}/roles"), Some(json!({"workspace": "c3.acme", "role": "Billing Admin"})))
        .await;
    s.adm(Method::POST, &format!("/users/{u}/roles"), Some(json!({"workspace": "c3.acme", "role": "Admin"}))).await;
    let src = format!("group:{g}");
    let before = vec![
        w("c3.acme", "Admin", "manual"),
        w("c3.acme", "Billing Admin", "manual"),
        w("c3.acme", "Viewer", "default"),
        w("c3.acme-eu", "Editor", &src),
    ];
    assert_eq!(s.roles(&u).await, before);
    // Okta's deactivation: PATCH without a path.
    let r = s.patch(&format!("/Users/{u}"), json!([{"op": "replace", "value": {"active": false}}])).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.roles(&u).await, vec![w("c3.acme", "Billing Admin", "manual")]);
    let a = s.access(&u).await;
    assert_eq!((a["active"].clone(), a["licence"].clone()), (json!(false), Value::Null));
    // The seat is free: another user can take it, then gives it back.
    let other = Server::id_of(&s.create_user("o@acme.com").await);
    assert_eq!(s.access(&other).await["licence_status"], "licensed");
    s.delete(&format!("/Users/{other}")).await;
    // Entra's reactivation: "True" as a string.
    let r = s.patch(&format!("/Users/{u}"), json!([{"op": "Replace", "path": "active", "value": "True"}])).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        s.roles(&u).await,
        vec![
            w("c3.acme", "Billing Admin", "manual"),
            w("c3.acme", "Viewer", "default"),
            w("c3.acme-eu", "Editor", &src)
        ],
        "mappings and policy apply again; the manual Admin role is not restored"
    );
    assert_eq!(s.access(&u).await["licence_status"], "licensed");
}

/// Rule 7: soft and hard DELETE.
async fn soft_delete_keeps_the_user_for_restore(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    s.adm(Method::PUT, "/policy", Some(json!({"on_delete": "soft"}))).await;
    let g = Server::id_of(&s.create_group("G").await);
    let u = Server::id_of(&s.create_user("soft@acme.com").await);
    s.add_member(&g, &u).await;
    assert_eq!(s.delete(&format!("/Users/{u}")).await.status, 204);
    s.get(&format!("/Users/{u}")).await.assert_error(404, None);
    s.delete(&format!("/Users/{u}")).await.assert_error(404, None);
    assert_eq!(s.get(&format!("/Users?filter={}", q("userName eq \"soft@acme.com\""))).await.body["totalResults"], 0);
    assert_eq!(s.get(&format!("/Groups/{g}")).await.body["members"], json!([]));
    let a = s.access(&u).await;
    assert_eq!(
        (a["deleted"].clone(), a["active"].clone(), a["licence"].clone()),
        (json!(true), json!(false), Value::Null)
    );
    let listed = s.adm(Method::GET, "/users?deleted=true", None).await;
    assert_eq!(listed.body["data"][0]["id"], u, "{}", listed.body);
    let r = s.adm(Method::POST, &format!("/users/{u}/restore"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(&format!("/Users/{u}")).await.status, 200);
    assert_eq!(s.roles(&u).await, vec![w("c3.acme", "Viewer", "default")]);
    // Deleted again, then created again by SCIM with the same userName: the same id comes back.
    s.delete(&format!("/Users/{u}")).await;
    let r = s.post("/Users", json!({"schemas": [USER], "userName": "SOFT@acme.com", "displayName": "Back"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["id"], u);
    assert_eq!(r.body["displayName"], "Back");
    // Hard delete: everything is gone.
    s.adm(Method::PUT, "/policy", Some(json!({"on_delete": "hard"}))).await;
    assert_eq!(s.delete(&format!("/Users/{u}")).await.status, 204);
    assert_eq!(s.adm(Method::GET, &format!("/users/{u}/access"), None).await.status, 404);
    assert_eq!(s.adm(Method::GET, "/users?deleted=true", None).await.body, json!({"data": [], "next": null}));
    assert_eq!(s.adm(Method::POST, &format!("/users/{u}/restore"), None).await.status, 404);
}

/// Rule 8: the identity provider stays the source of truth for SCIM-managed users.
async fn scim_managed_users_are_read_only_in_the_admin_api(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let u = Server::id_of(&s.create_user("idp@acme.com").await);
    let r = s.adm(Method::PATCH, &format!("/users/{u}"), Some(json!({"active": false}))).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["code"].clone()), (409, json!("conflict")));
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("managed by the identity provider"), "{}", r.body);
    let r = s.adm(Method::PATCH, &format!("/users/{u}"), Some(json!({"displayName": "x"}))).await;
    assert_eq!(r.status, 409);
    assert_eq!(s.adm(Method::DELETE, &format!("/users/{u}"), None).await.status, 409);
    assert_eq!(s.get(&format!("/Users/{u}")).await.body["active"], true);
    // A hand-made user: editable by the admin API, visible to the IdP's import.
    let r = s.adm(Method::POST, "/users", Some(json!({"userName": "hand@acme.com", "active": true}))).await;
    let h = Server::id_of(&r.body);
    assert_eq!(s.ids(&format!("/Users?filter={}", q("userName eq \"hand@acme.com\""))).await, vec![h.clone()]);
    assert_eq!(s.roles(&h).await, vec![w("c3.acme", "Viewer", "default")]);
    let r = s.adm(Method::PATCH, &format!("/users/{h}"), Some(json!({"active": false}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.roles(&h).await, vec![]);
    // Once the IdP writes to it, it is SCIM-managed.
    s.patch(&format!("/Users/{h}"), json!([{"op": "replace", "value": {"active": true}}])).await;
    assert_eq!(s.access(&h).await["scim_managed"], true);
    assert_eq!(s.adm(Method::DELETE, &format!("/users/{h}"), None).await.status, 409);
}

/// Issue 12, item 6: PUT and PATCH may not move a user out of the allowed
/// domains; a write that leaves the addresses alone still works.
async fn the_domain_rule_holds_on_every_write(b: Backend) {
    let s = start(b).await;
    let u = Server::id_of(&s.create_user("a@acme.com").await);
    let r = s.adm(Method::PUT, "/policy", Some(json!({"allowed_domains": ["acme.com"]}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r =
        s.patch(&format!("/Users/{u}"), json!([{"op": "replace", "path": "userName", "value": "a@other.io"}])).await;
    r.assert_error(403, None);
    assert!(r.body["detail"].as_str().unwrap().contains("'other.io'"), "{}", r.body);
    let r = s
        .put(
            &format!("/Users/{u}"),
            json!({"schemas": [USER], "userName": "a@acme.com", "emails": [{"value": "a@gmail.com", "primary": true}]}),
        )
        .await;
    r.assert_error(403, None);
    assert!(r.body["detail"].as_str().unwrap().contains("'gmail.com'"), "{}", r.body);
    let r = s.get(&format!("/Users/{u}")).await;
    assert_eq!(
        (r.body["userName"].as_str(), r.body["emails"][0]["value"].as_str()),
        (Some("a@acme.com"), Some("a@acme.com"))
    );
    // A user made before the rule, outside it, can still be deactivated.
    s.adm(Method::PUT, "/policy", Some(json!({"allowed_domains": []}))).await;
    let early = Server::id_of(&s.create_user("early@other.io").await);
    s.adm(Method::PUT, "/policy", Some(json!({"allowed_domains": ["acme.com"]}))).await;
    let r = s.patch(&format!("/Users/{early}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    assert_eq!((r.status.as_u16(), r.body["active"].clone()), (200, json!(false)), "{}", r.body);
}

/// Issue 12, item 1: `on_deactivate: none` leaves roles and the seat to the product.
async fn with_on_deactivate_none_a_deactivated_user_keeps_its_access(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let r = s.adm(Method::PUT, "/policy", Some(json!({"on_deactivate": "none"}))).await;
    assert_eq!((r.status.as_u16(), r.body["on_deactivate"].clone()), (200, json!("none")), "{}", r.body);
    let u = Server::id_of(&s.create_user("d@acme.com").await);
    let before = s.roles(&u).await;
    assert_eq!(before, vec![w("c3.acme", "Viewer", "default")]);
    let r = s.patch(&format!("/Users/{u}"), json!([{"op": "replace", "value": {"active": false}}])).await;
    assert_eq!(r.status, 200);
    let a = s.access(&u).await;
    assert_eq!((a["active"].clone(), a["licence_status"].clone()), (json!(false), json!("licensed")));
    assert_eq!(s.roles(&u).await, before);
    // Deleting still takes everything away.
    s.adm(Method::PUT, "/policy", Some(json!({"on_delete": "soft"}))).await;
    assert_eq!(s.delete(&format!("/Users/{u}")).await.status, 204);
    let a = s.access(&u).await;
    assert_eq!((a["roles"].clone(), a["licence"].clone()), (json!([]), Value::Null));
}

/// Issue 12, item 3: `max_default_rank` (Conveyor: new users only get the lowest roles).
async fn default_roles_have_a_ceiling(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let viewer = s.adm(Method::GET, "/policy", None).await.body["default_role"].clone();
    let r = s.adm(Method::PUT, "/policy", Some(json!({"max_default_rank": 1}))).await;
    assert_eq!((r.status.as_u16(), r.body["max_default_rank"].clone()), (200, json!(1)), "{}", r.body);
    let r = s.adm(Method::PUT, "/policy", Some(json!({"default_role": "Admin"}))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let detail = r.body["error"]["detail"].as_str().unwrap();
    assert!(detail.contains("'Admin'") && detail.contains("max_default_rank 1"), "{detail}");
    assert_eq!(s.adm(Method::GET, "/policy", None).await.body["default_role"], viewer, "nothing was changed");
    let r = s.adm(Method::PUT, "/policy", Some(json!({"max_default_rank": null, "default_role": "Admin"}))).await;
    assert_eq!((r.status.as_u16(), r.body["max_default_rank"].clone()), (200, Value::Null), "{}", r.body);
}

/// Issue 12, item 2: `on_create` and the default role are creation-time
/// choices; an admin re-applies them explicitly, after a dry run.
async fn defaults_apply_at_creation_until_an_admin_reapplies_them(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let viewer = Server::id_of(&s.create_user("v@acme.com").await);
    assert_eq!(s.adm(Method::PUT, "/policy", Some(json!({"default_role": "Editor"}))).await.status, 200);
    let editor = Server::id_of(&s.create_user("e@acme.com").await);
    assert_eq!(s.adm(Method::PUT, "/policy", Some(json!({"on_create": "no_access"}))).await.status, 200);
    let nobody = Server::id_of(&s.create_user("n@acme.com").await);
    assert_eq!(s.roles(&viewer).await, vec![w("c3.acme", "Viewer", "default")], "not moved by later edits");
    assert_eq!(s.roles(&editor).await, vec![w("c3.acme", "Editor", "default")]);
    assert_eq!(s.roles(&nobody).await, vec![]);
    // Leaving a mapped group gives back the default the user was created with.
    let g = Server::id_of(&s.create_group("Admins").await);
    s.adm(Method::POST, "/group-mappings", Some(json!({"group": g, "workspace": "c3.acme", "role": "Admin"}))).await;
    s.add_member(&g, &viewer).await;
    assert_eq!(s.roles(&viewer).await, vec![w("c3.acme", "Admin", &format!("group:{g}"))]);
    s.remove_member(&g, &viewer).await;
    assert_eq!(s.roles(&viewer).await, vec![w("c3.acme", "Viewer", "default")]);
    // The dry run lists who would lose their default, and changes nothing.
    let r = s.adm(Method::POST, "/policy/reapply?dry_run=true", None).await;
    assert_eq!(
        (r.status.as_u16(), r.body["dry_run"].clone(), r.body["changed"].clone()),
        (200, json!(true), json!(2)),
        "{}",
        r.body
    );
    let listed: Vec<&str> = r.body["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert!(listed.contains(&viewer.as_str()) && listed.contains(&editor.as_str()), "{}", r.body);
    assert_eq!(
        r.body["users"][0]["revoked"][0]["role"]["name"].as_str().map(|n| n == "Viewer" || n == "Editor"),
        Some(true)
    );
    assert_eq!(s.roles(&viewer).await, vec![w("c3.acme", "Viewer", "default")]);
    // Applied, then the other way round.
    let r = s.adm(Method::POST, "/policy/reapply", None).await;
    assert_eq!((r.status.as_u16(), r.body["changed"].clone()), (200, json!(2)), "{}", r.body);
    assert_eq!((s.roles(&viewer).await, s.roles(&editor).await), (vec![], vec![]));
    s.adm(Method::PUT, "/policy", Some(json!({"on_create": "grant_default", "default_role": "Viewer"}))).await;
    assert_eq!(s.roles(&nobody).await, vec![]);
    let r = s.adm(Method::POST, "/policy/reapply", None).await;
    assert_eq!(r.body["changed"], 3, "{}", r.body);
    for u in [&viewer, &editor, &nobody] {
        assert_eq!(s.roles(u).await, vec![w("c3.acme", "Viewer", "default")]);
    }
}

/// Issue 12, item 4 (Conveyor): a group role that first applies replaces the
/// manual roles of its workspace; manual roles granted after it stay beside it
/// and survive leaving the group; a grant is kept or refused, never dropped.
async fn manual_roles_beside_a_group_role_stay_and_grants_never_vanish(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let g = Server::id_of(&s.create_group("Editors").await);
    s.adm(Method::POST, "/group-mappings", Some(json!({"group": g, "workspace": "c3.acme", "role": "Editor"}))).await;
    let u = Server::id_of(&s.create_user("c@acme.com").await);
    let grant = |role: &'static str| {
        let path = format!("/users/{u}/roles");
        let s = &s;
        async move { s.adm(Method::POST, &path, Some(json!({"workspace": "c3.acme", "role": role}))).await }
    };
    assert_eq!(grant("Admin").await.status, 204);
    let src = format!("group:{g}");
    s.add_member(&g, &u).await;
    assert_eq!(s.roles(&u).await, vec![w("c3.acme", "Editor", &src)], "the group role replaced the earlier manual one");
    assert_eq!(grant("Admin").await.status, 204);
    assert_eq!(s.roles(&u).await, vec![w("c3.acme", "Admin", "manual"), w("c3.acme", "Editor", &src)]);
    s.remove_member(&g, &u).await;
    assert_eq!(
        s.roles(&u).await,
        vec![w("c3.acme", "Admin", "manual"), w("c3.acme", "Viewer", "default")],
        "the manual role granted beside the group role survives leaving it"
    );
    // Withdrawing a manual role the user does not hold says so.
    let r = s.adm(Method::DELETE, &format!("/users/{u}/roles/c3.acme/Editor"), None).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["code"].clone()), (404, json!("not_found")), "{}", r.body);
    // A deactivated user: the grant is refused with the reason, and nothing is stored.
    s.patch(&format!("/Users/{u}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    let r = grant("Editor").await;
    assert_eq!((r.status.as_u16(), r.body["error"]["code"].clone()), (409, json!("not_granted")), "{}", r.body);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("deactivated"), "{}", r.body);
    assert_eq!(s.roles(&u).await, vec![]);
}

/// Issue 12, item 7: a mapping made by name binds to the group's id (now, or
/// once a group of that name is pushed), so a rename keeps it; a name two
/// groups have is refused.
async fn mappings_by_name_bind_to_the_group_and_follow_renames(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let g = Server::id_of(&s.create_group("Editors").await);
    let r = s
        .adm(
            Method::POST,
            "/group-mappings",
            Some(json!({"group": "editors", "workspace": "c3.acme", "role": "Editor"})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.body["group"].clone()), (201, json!(g)), "{}", r.body);
    let u = Server::id_of(&s.create_user("r@acme.com").await);
    s.add_member(&g, &u).await;
    let src = format!("group:{g}");
    let r = s
        .patch(&format!("/Groups/{g}"), json!([{"op": "replace", "path": "displayName", "value": "Editors EU"}]))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.roles(&u).await, vec![w("c3.acme", "Editor", &src)], "the rename kept the mapping");
    // A mapping waiting for a group of its name binds when the group is pushed, and survives its rename.
    let r = s
        .adm(Method::POST, "/group-mappings", Some(json!({"group": "Admins", "workspace": "c3.acme", "role": "Admin"})))
        .await;
    assert_eq!((r.status.as_u16(), r.body["group"].clone()), (201, json!("Admins")), "{}", r.body);
    let admins = Server::id_of(&s.create_group("ADMINS").await);
    let mappings = s.adm(Method::GET, "/group-mappings", None).await.body;
    assert!(mappings.as_array().unwrap().iter().any(|m| m["group"] == json!(admins)), "{mappings}");
    s.add_member(&admins, &u).await;
    s.patch(&format!("/Groups/{admins}"), json!([{"op": "replace", "path": "displayName", "value": "Admins (old)"}]))
        .await;
    assert_eq!(s.roles(&u).await, vec![w("c3.acme", "Admin", &format!("group:{admins}"))]);
    // Two groups with one name: a mapping by that name is refused.
    s.create_group("Twins").await;
    s.create_group("twins").await;
    let r = s
        .adm(Method::POST, "/group-mappings", Some(json!({"group": "Twins", "workspace": "c3.acme", "role": "Viewer"})))
        .await;
    assert_eq!((r.status.as_u16(), r.body["error"]["code"].clone()), (409, json!("ambiguous_group")), "{}", r.body);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("2 groups"), "{}", r.body);
}

/// Issue 12, item 5 (VIDIZMO's CALs): removals from groups, deactivations
/// and reactivations are never refused; a user who cannot get a better
/// licence keeps its own and waits; one who loses its licence waits for the
/// fallback; a freed seat goes to the longest-waiting user; a limit below use
/// is refused unless forced; the default switches in one call.
async fn seats_never_fight_the_identity_provider(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    assert_eq!(s.adm(Method::PATCH, "/licence-types/Basic", Some(json!({"seat_limit": 2}))).await.status, 200);
    let r = s.adm(Method::POST, "/licence-types", Some(json!({"name": "Gold", "seat_limit": 1}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gold = Server::id_of(&s.create_group("Gold users").await);
    s.adm(Method::POST, "/group-mappings", Some(json!({"group": gold, "licence_type": "Gold"}))).await;
    let licence = |u: &str| {
        let (s, u) = (&s, u.to_string());
        async move {
            let a = s.access(&u).await;
            (
                a["licence"]["type"]["name"].as_str().map(str::to_string),
                a["waiting"]["for"]["name"].as_str().map(str::to_string),
            )
        }
    };
    let some = |t: &str| Some(t.to_string());
    let a = Server::id_of(&s.create_user("a@acme.com").await);
    let bb = Server::id_of(&s.create_user("b@acme.com").await);
    s.post("/Users", json!({"schemas": [USER], "userName": "c@acme.com"})).await.assert_error(409, None);
    // a moves to Gold; b cannot (Gold is full): b keeps Basic and waits.
    s.add_member(&gold, &a).await;
    s.add_member(&gold, &bb).await;
    assert_eq!(licence(&a).await, (some("Gold"), None));
    assert_eq!(licence(&bb).await, (some("Basic"), some("Gold")));
    assert!(s.access(&bb).await["waiting"]["since"].as_str().is_some_and(|t| t.starts_with("2026-")));
    // a leaves Gold: its Gold seat goes to b, who waited for it.
    s.remove_member(&gold, &a).await;
    assert_eq!((licence(&a).await, licence(&bb).await), ((some("Basic"), None), (some("Gold"), None)));
    let c = Server::id_of(&s.create_user("c@acme.com").await);
    // b leaves Gold while Basic is full: never refused; b holds nothing and waits for Basic.
    s.remove_member(&gold, &bb).await;
    assert_eq!(licence(&bb).await, (None, some("Basic")));
    assert_eq!(s.access(&bb).await["licence_status"], "unlicensed_no_seats");
    // Deactivating a frees a Basic seat: b gets it in the same request. Reactivating a is not refused: a waits.
    let r = s.patch(&format!("/Users/{a}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    assert_eq!(r.status, 200);
    assert_eq!(licence(&bb).await, (some("Basic"), None));
    let r = s.patch(&format!("/Users/{a}"), json!([{"op": "replace", "path": "active", "value": true}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(licence(&a).await, (None, some("Basic")));
    // A limit below the seats in use is refused with the count; forced, the newest holder waits.
    let r = s.adm(Method::PATCH, "/licence-types/Basic", Some(json!({"seat_limit": 1}))).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["code"].clone()), (409, json!("seats_in_use")), "{}", r.body);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("2 seats in use"), "{}", r.body);
    let r = s.adm(Method::PATCH, "/licence-types/Basic", Some(json!({"seat_limit": 1, "force": true}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((licence(&c).await, licence(&bb).await), ((some("Basic"), None), (None, some("Basic"))));
    // Raising it again seats the longest waiter first (a waited before b).
    s.adm(Method::PATCH, "/licence-types/Basic", Some(json!({"seat_limit": 2}))).await;
    assert_eq!((licence(&a).await, licence(&bb).await), ((some("Basic"), None), (None, some("Basic"))));
    // Switching the default licence type is one call.
    let r = s.adm(Method::PATCH, "/licence-types/Pro", Some(json!({"default": true}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let defaults: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["is_default"] == true)
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(defaults, vec!["Pro"]);
    assert_eq!(licence(&bb).await, (some("Pro"), None), "everyone moves to the new default, which has seats");
}

/// Issue 12, item 8: plain errors naming the setting and its values, names
/// beside ids, single items, cursor pages, pushed groups, seats, users by role.
async fn the_admin_api_speaks_to_people(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    // Errors name the setting and the allowed values, never the parser's position.
    let r = s.adm(Method::PUT, "/policy", Some(json!({"on_deactivate": "bogus"}))).await;
    let detail = r.body["error"]["detail"].as_str().unwrap().to_string();
    assert_eq!(r.status, 400, "{detail}");
    assert!(
        detail.contains("'on_deactivate'") && detail.contains("'suspend'") && detail.contains("'none'"),
        "{detail}"
    );
    assert!(!detail.contains("line 1"), "{detail}");
    let r = s.adm(Method::POST, "/roles", Some(json!({"name": "x", "rank": "high"}))).await;
    let detail = r.body["error"]["detail"].as_str().unwrap();
    assert!(detail.starts_with("'rank'"), "{detail}");
    let r = s.adm(Method::PUT, "/policy", Some(json!({"seats": 3}))).await;
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("no setting 'seats'"), "{}", r.body);
    // Names beside ids.
    let policy = s.adm(Method::GET, "/policy", None).await.body;
    assert_eq!(
        (policy["default_role"]["name"].clone(), policy["default_workspace"]["name"].clone()),
        (json!("Viewer"), json!("c3.acme"))
    );
    // One item by name or id.
    let r = s.adm(Method::GET, "/roles/editor", None).await;
    assert_eq!((r.status.as_u16(), r.body["name"].clone()), (200, json!("Editor")), "{}", r.body);
    let r =
        s.adm(Method::GET, &format!("/workspaces/{}", policy["default_workspace"]["id"].as_str().unwrap()), None).await;
    assert_eq!(r.body["name"], "c3.acme");
    let r = s.adm(Method::GET, "/licence-types/nope", None).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["detail"].clone()), (404, json!("there is no licence type 'nope'")));
    // Users a page at a time, filtered by role; sources name their group.
    let g = Server::id_of(&s.create_group("Editors").await);
    s.adm(Method::POST, "/group-mappings", Some(json!({"group": g, "workspace": "c3.acme", "role": "Editor"}))).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(Server::id_of(&s.create_user(&format!("p{i}@acme.com")).await));
    }
    s.add_member(&g, &ids[1]).await;
    s.add_member(&g, &ids[3]).await;
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let r = s.adm(Method::GET, &format!("/users?limit=2&after={after}"), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(r.body["data"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()));
        match r.body["next"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every user once, in order, two a page");
    let r = s.adm(Method::GET, "/users?workspace=c3.acme&role=Editor", None).await;
    let editors: Vec<&str> = r.body["data"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(editors, vec![ids[1].as_str(), ids[3].as_str()]);
    let a = s.access(&ids[1]).await;
    assert_eq!(a["roles"][0]["from"]["group"], json!({"id": g, "name": "Editors"}), "{a}");
    // Pushed groups with their members and mappings; seats per licence type.
    s.create_group("Unmapped").await;
    let groups = s.adm(Method::GET, "/groups", None).await.body;
    let editors_group = groups["data"].as_array().unwrap().iter().find(|x| x["id"] == json!(g)).unwrap().clone();
    assert_eq!((editors_group["members"].clone(), editors_group["mapped"].clone()), (json!(2), json!(true)));
    assert_eq!(editors_group["mappings"][0]["role"]["name"], "Editor");
    assert!(groups["data"].as_array().unwrap().iter().any(|x| x["displayName"] == "Unmapped" && x["mapped"] == false));
    let types = s.adm(Method::GET, "/licence-types", None).await.body;
    let basic = types.as_array().unwrap().iter().find(|l| l["name"] == "Basic").unwrap().clone();
    assert_eq!(
        (basic["seat_limit"].clone(), basic["used"].clone(), basic["waiting"].clone()),
        (json!(100), json!(5), json!(0))
    );
}

/// Issue 12, item 1 over the admin API: a workspace's own create and deactivate choices.
async fn workspaces_choose_their_own_lifecycle(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let lifecycle = json!({"on_create": "grant_default", "default_role": "Editor", "on_deactivate": "none",
                           "host_actions": {"on_deactivate": ["unassign_devices"]}});
    let r = s.adm(Method::POST, "/workspaces", Some(json!({"name": "MDM", "lifecycle": lifecycle}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["lifecycle"]["host_actions"]["on_deactivate"], json!(["unassign_devices"]));
    let u = Server::id_of(&s.create_user("m@acme.com").await);
    assert_eq!(s.roles(&u).await, vec![w("MDM", "Editor", "default"), w("c3.acme", "Viewer", "default")]);
    let r = s.patch(&format!("/Users/{u}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.roles(&u).await, vec![w("MDM", "Editor", "default")], "MDM leaves deactivation to the product");
    let r =
        s.adm(Method::PATCH, "/workspaces/MDM", Some(json!({"lifecycle": {"default_role": "Billing Admin"}}))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("not provisionable"), "{}", r.body);
    let r = s.adm(Method::PATCH, "/workspaces/MDM", Some(json!({"name": "Devices"}))).await;
    assert_eq!(
        (r.status.as_u16(), r.body["name"].clone(), r.body["lifecycle"]["default_role_id"].is_string()),
        (200, json!("Devices"), true)
    );
    // Part of a lifecycle changes only what it sends; null clears one choice.
    let r = s.adm(Method::PATCH, "/workspaces/Devices", Some(json!({"lifecycle": {"on_deactivate": "suspend"}}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let l = &r.body["lifecycle"];
    assert_eq!((l["on_deactivate"].clone(), l["on_create"].clone()), (json!("suspend"), json!("grant_default")), "{l}");
    assert!(l["default_role_id"].is_string(), "{l}");
    assert_eq!(l["host_actions"]["on_deactivate"], json!(["unassign_devices"]), "{l}");
    let clear = json!({"lifecycle": {"on_create": null, "default_role": null}});
    let r = s.adm(Method::PATCH, "/workspaces/Devices", Some(clear)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let l = &r.body["lifecycle"];
    assert!(l["default_role_id"].is_null() && l["on_create"].is_null() && l["on_deactivate"] == "suspend", "{l}");
}

/// Issue 12, item 6: hand-made users outside the allowed domains are invisible
/// to SCIM, so an import never takes them over; inside them, the identity
/// provider's first write takes a hand-made user over.
async fn external_users_are_invisible_to_scim(b: Backend) {
    let s = start(b).await;
    s.create_user("a@acme.com").await;
    let vendor = Server::id_of(&s.adm(Method::POST, "/users", Some(json!({"userName": "vendor@other.io"}))).await.body);
    let inside = Server::id_of(&s.adm(Method::POST, "/users", Some(json!({"userName": "hand@acme.com"}))).await.body);
    // Before the rule, SCIM sees every user.
    assert_eq!(s.get("/Users?count=0").await.body["totalResults"], 3);
    assert_eq!(s.adm(Method::PUT, "/policy", Some(json!({"allowed_domains": ["acme.com"]}))).await.status, 200);
    let r = s.get(&format!("/Users?filter={}", q("userName eq \"vendor@other.io\""))).await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.body);
    assert_eq!(s.get("/Users?count=0").await.body["totalResults"], 2);
    assert_eq!(s.get("/Users").await.body["Resources"].as_array().unwrap().len(), 2);
    s.get(&format!("/Users/{vendor}")).await.assert_error(404, None);
    let deactivate = json!([{"op": "replace", "path": "active", "value": false}]);
    s.patch(&format!("/Users/{vendor}"), deactivate.clone()).await.assert_error(404, None);
    s.delete(&format!("/Users/{vendor}")).await.assert_error(404, None);
    // Still the product's to manage.
    let r = s.adm(Method::PATCH, &format!("/users/{vendor}"), Some(json!({"displayName": "Vendor"}))).await;
    assert_eq!((r.status.as_u16(), r.body["scim_managed"].clone()), (200, json!(false)), "{}", r.body);
    // Inside the domains: matched, and taken over by the first write.
    let r = s.get(&format!("/Users?filter={}", q("userName eq \"hand@acme.com\""))).await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(s.patch(&format!("/Users/{inside}"), deactivate).await.status, 200);
    let r = s.adm(Method::GET, &format!("/users/{inside}"), None).await;
    assert_eq!(r.body["scim_managed"], true, "{}", r.body);
}

/// Issue 19, item 9: every answer that points at a workspace, role or licence
/// type by id names it too, so an admin reading it needs no second look-up.
async fn admin_answers_name_what_they_point_at(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let body = json!({"group": "Sales", "workspace": "c3.acme", "role": "Editor", "licence_type": "Pro"});
    let r = s.adm(Method::POST, "/group-mappings", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let named =
        |v: &Value| (v["workspace"]["name"].clone(), v["role"]["name"].clone(), v["licence_type"]["name"].clone());
    assert_eq!(named(&r.body), (json!("c3.acme"), json!("Editor"), json!("Pro")), "{}", r.body);
    assert_eq!(r.body["role"]["id"], r.body["role_id"], "{}", r.body);
    let id = Server::id_of(&r.body);
    for path in [format!("/group-mappings/{id}"), "/group-mappings".to_string()] {
        let r = s.adm(Method::GET, &path, None).await;
        let m = if r.body.is_array() { r.body[0].clone() } else { r.body.clone() };
        assert_eq!(named(&m), (json!("c3.acme"), json!("Editor"), json!("Pro")), "{path}: {}", r.body);
    }
    let lifecycle = json!({"on_create": "grant_default", "default_role": "Editor"});
    let r = s.adm(Method::POST, "/workspaces", Some(json!({"name": "MDM", "lifecycle": lifecycle}))).await;
    assert_eq!((r.status.as_u16(), r.body["default_role"]["name"].clone()), (201, json!("Editor")), "{}", r.body);
    let r = s.adm(Method::GET, "/workspaces/MDM", None).await;
    assert_eq!(r.body["default_role"]["name"], "Editor", "{}", r.body);
    let r = s.adm(Method::GET, "/config", None).await;
    let mdm = r.body["workspaces"].as_array().unwrap().iter().find(|w| w["name"] == "MDM").cloned().unwrap();
    assert_eq!(mdm["default_role"]["name"], "Editor", "{}", r.body);
    assert_eq!(r.body["group_mappings"][0]["role"]["name"], "Editor", "{}", r.body);
    // A licence-type change answers every type with its seats, as the list does.
    s.create_user("a@acme.com").await;
    let r = s.adm(Method::PATCH, "/licence-types/Basic", Some(json!({"seat_limit": 5}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let basic = r.body.as_array().unwrap().iter().find(|l| l["name"] == "Basic").cloned().unwrap();
    assert_eq!(
        (basic["seat_limit"].clone(), basic["used"].clone(), basic["waiting"].clone()),
        (json!(5), json!(1), json!(0))
    );
}
