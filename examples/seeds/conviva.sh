#!/usr/bin/env bash
# Conviva (shared/seeds/000): the README recipe "Configuring a tenant like each
# of the seed products", then Conviva's Okta flow over SCIM.
#   bash examples/seeds/conviva.sh BASE_URL ADMIN_TOKEN SCIM_TOKEN TENANT
# Promises: new users get no access; each C3 account is a workspace; a mapped
# group grants a role in its account; deactivation revokes the roles in every
# account; SCIM users cannot be deprovisioned or edited in the product; users
# of other e-mail domains are refused over SCIM and managed by hand.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

echo "# Conviva: configure the tenant as the README recipe says"
recipe POST workspaces '{"name":"c3.customer-demo"}'   # one per C3 account
recipe POST workspaces '{"name":"c3.customer-labs"}'
recipe POST roles '{"name":"Viewer","rank":1}'          # "roles with ... {"name":"Viewer","rank":1} ..."
recipe POST roles '{"name":"Admin","rank":2}'
recipe PUT policy '{"on_create":"no_access","on_deactivate":"suspend","on_delete":"hard","allowed_domains":["customer.com"]}'
recipe POST group-mappings '{"group":"Conviva Demo Viewers","workspace":"c3.customer-demo","role":"Viewer"}'
recipe POST group-mappings '{"group":"Conviva Labs Admins","workspace":"c3.customer-labs","role":"Admin"}'

okta_test_credentials

echo "# Each C3 account is a workspace of the tenant"
adm GET "$ADM/workspaces"
expect "each C3 account is a workspace" "$(js 'sorted(w["name"] for w in d)')" '["c3.customer-demo","c3.customer-labs"]'

echo "# Push Users: Okta creates a basic user record"
okta_create_user ann@customer.com Ann Lee
ANN="$ID"
expect "Okta's create answers 201 with an id" "$STATUS $( [ -n "$ANN" ] && echo id)" "201 id"
expect "a new user can access no Conviva account" "$(roles "$ANN")" "none"
adm GET "$ADM/users/$ANN/access"
expect "the new user is active and SCIM-managed" "$(js '[d["active"], d["scim_managed"]]')" "[true,true]"

echo "# Push Groups: a mapped group grants a role in its own account"
okta_push_group "Conviva Demo Viewers"
DEMO="$ID"
expect "Okta pushes the group 'Conviva Demo Viewers'" "$STATUS" 201
okta_add_member "$DEMO" "$ANN" ann@customer.com
expect "Okta adds Ann to 'Conviva Demo Viewers'" "$STATUS" 200
expect "the group grants Viewer in c3.customer-demo only" "$(roles "$ANN")" \
  "c3.customer-demo/Viewer (group Conviva Demo Viewers)"
okta_push_group "Conviva Labs Admins"
LABS="$ID"
okta_add_member "$LABS" "$ANN" ann@customer.com
expect "a second group grants Admin in c3.customer-labs, beside the first account's role" "$(roles "$ANN")" \
  "c3.customer-demo/Viewer (group Conviva Demo Viewers), c3.customer-labs/Admin (group Conviva Labs Admins)"

echo "# The product does not deprovision or edit users provisioned through Okta"
adm DELETE "$ADM/users/$ANN"
expect "the admin API refuses to delete a SCIM user (409)" "$(status_and 'd["error"]["code"]')" "409 conflict"
expect_match "the refusal says the identity provider manages the user" "$(js 'd["error"]["detail"]')" \
  "*managed by the identity provider*"
adm PATCH "$ADM/users/$ANN" '{"displayName":"Renamed in the product"}'
expect "the admin API refuses to edit a SCIM user (409)" "$STATUS" 409
adm PATCH "$ADM/users/$ANN" '{"active":false}'
expect "the admin API refuses to deactivate a SCIM user (409)" "$STATUS" 409
scim GET "$SCIM/Users/$ANN"
expect "the refused admin calls changed nothing" "$(status_and '[d["active"], d["displayName"]]')" '200 [true,"Ann Lee"]'

echo "# Deactivate Users: the user's roles against each account are revoked"
okta_set_active "$ANN" false
expect_match "Okta's deactivation (PATCH, no path) succeeds" "$STATUS" "20[04]"
scim GET "$SCIM/Users/$ANN"
expect "the deactivated user is still readable, with active false" "$(status_and 'd["active"]')" "200 false"
expect "deactivation revokes the roles in every account" "$(roles "$ANN")" "none"
adm GET "$ADM/users/$ANN/access"
expect "/access shows the user inactive" "$(js 'd["active"]')" "false"
okta_set_active "$ANN" true
expect "reactivation gives back what the groups grant" "$(roles "$ANN")" \
  "c3.customer-demo/Viewer (group Conviva Demo Viewers), c3.customer-labs/Admin (group Conviva Labs Admins)"

echo "# External users: not through Okta SCIM"
okta_create_user Bo@Customer.COM Bo Chan
expect "the allowed domain matches in any case (201)" "$STATUS" 201
okta_create_user vendor@partner.io Val Dor
expect "a user of another e-mail domain is refused on create (403)" "$STATUS" 403
expect_match "the refusal names the domain" "$(js 'd["detail"]')" "*'partner.io'*"
expect "nothing was stored for the refused user" "$(count_users vendor@partner.io)" 0
scim PATCH "$SCIM/Users/$ANN" "{$PATCH_OP,\"Operations\":[{\"op\":\"replace\",\"path\":\"userName\",\"value\":\"ann@partner.io\"}]}"
expect "a PATCH moving userName to another domain is refused (403)" "$STATUS" 403
expect_match "that refusal names the domain too" "$(js 'd["detail"]')" "*'partner.io'*"
scim GET "$SCIM/Users/$ANN"
expect "the user kept its userName" "$(js 'd["userName"]')" ann@customer.com
scim PUT "$SCIM/Users/$ANN" "{\"schemas\":[\"$USER_SCHEMA\"],\"userName\":\"ann@customer.com\",\"active\":true,
  \"name\":{\"givenName\":\"Ann\",\"familyName\":\"Lee\"},\"emails\":[{\"primary\":true,\"value\":\"ann@gmail.com\",\"type\":\"work\"}]}"
expect "a PUT giving the user an e-mail of another domain is refused (403)" "$STATUS" 403

echo "# External users are managed by hand in the product"
adm POST "$ADM/users" '{"userName":"vendor@partner.io","emails":[{"value":"vendor@partner.io","primary":true}],"displayName":"Val Dor"}'
VAL="$(js 'd.get("id")')"
expect "the admin API creates the external user by hand (201), not SCIM-managed" \
  "$(status_and 'd.get("scim_managed")')" "201 false"
adm GET "$ADM/users/$VAL/access"
expect "/access says the external user is not SCIM-managed" "$(js 'd["scim_managed"]')" false
expect "Okta's import does not see the external user, so never takes it over" "$(count_users vendor@partner.io)" 0
scim GET "$SCIM/Users/$VAL"
expect "SCIM answers 404 for the external user" "$STATUS" 404
adm PATCH "$ADM/users/$VAL" '{"displayName":"Val Dor (Partner)"}'
expect "the product may edit the external user" "$STATUS" 200
adm DELETE "$ADM/users/$VAL"
expect_match "the product may delete the external user" "$STATUS" "20[04]"

echo "# Import Users: a user made in Conviva, inside the domain, is matched and taken over by Okta"
adm POST "$ADM/users" '{"userName":"cy@customer.com","emails":[{"value":"cy@customer.com","primary":true}]}'
CY="$(id_of_answer)"
scim GET "$SCIM/Users?filter=$(urlenc 'userName eq "cy@customer.com"')&startIndex=1&count=100"
expect "Okta's import matches the hand-made user by userName" "$(js '[u["id"] for u in d["Resources"]]')" "[\"$CY\"]"
okta_set_active "$CY" true
adm GET "$ADM/users/$CY/access"
expect "Okta's first write makes it SCIM-managed" "$(js 'd["scim_managed"]')" true
adm DELETE "$ADM/users/$CY"
expect "from then on the product cannot deprovision it (409)" "$STATUS" 409

finish
