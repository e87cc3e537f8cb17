#!/usr/bin/env bash
# Applivery (shared/seeds/002): the README recipe "Configuring a tenant like
# each of the seed products", then Applivery's Okta flow over SCIM.
#   bash examples/seeds/applivery.sh BASE_URL ADMIN_TOKEN SCIM_TOKEN TENANT
# Promises: three kinds of user (Enterprise Store, Dashboard, MDM Portal), each
# with its own create and deactivate choice: a new user becomes a Store
# employee and an MDM employee but no Dashboard collaborator; SAML/Okta groups
# keep Dashboard roles in sync; deactivation removes the Store employee and
# the Dashboard collaborator and leaves MDM to the product (which unassigns
# the devices itself).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

echo "# Applivery: configure the tenant as the README recipe says"
recipe POST roles '{"name":"Viewer","rank":1}'
recipe POST roles '{"name":"Editor","rank":2}'
recipe POST roles '{"name":"Admin","rank":3}'
recipe POST workspaces '{"name":"Enterprise Store","lifecycle":{"on_create":"grant_default","default_role":"Viewer"}}'
recipe POST workspaces '{"name":"Dashboard","lifecycle":{"on_create":"no_access","on_deactivate":"suspend"}}'
recipe POST workspaces '{"name":"MDM","lifecycle":{"on_create":"grant_default","default_role":"Editor","on_deactivate":"none","host_actions":{"on_deactivate":["unassign_devices"]}}}'
recipe POST group-mappings '{"group":"Applivery Admins","workspace":"Dashboard","role":"Admin"}'

okta_test_credentials

echo "# Three kinds of user, three workspaces with their own lifecycle"
adm GET "$ADM/workspaces"
expect "the tenant has the three workspaces" "$(js 'sorted(w["name"] for w in d)')" \
  '["Dashboard","Enterprise Store","MDM"]'
expect "each workspace keeps its own create and deactivate choices" \
  "$(js '{w["name"]: [w["lifecycle"].get("on_create"), w["lifecycle"].get("on_deactivate")] for w in d}')" \
  '{"Dashboard":["no_access","suspend"],"Enterprise Store":["grant_default",null],"MDM":["grant_default","none"]}'
expect "MDM names the host action due on deactivation" \
  "$(js '[w["lifecycle"]["host_actions"]["on_deactivate"] for w in d if w["name"] == "MDM"]')" '[["unassign_devices"]]'
adm GET "$ADM/policy"
expect "the Enterprise Store follows the tenant's deactivation choice, suspend" "$(js 'd["on_deactivate"]')" suspend

echo "# Create users: a Store employee and an MDM employee, no Dashboard collaborator"
okta_create_user eve@applivery.test Eve Ortiz
EVE="$ID"
expect "Okta creates a user (201)" "$STATUS" 201
expect "the new user gets the Store and MDM defaults and nothing in Dashboard" "$(roles "$EVE")" \
  "Enterprise Store/Viewer (default), MDM/Editor (default)"

echo "# Groups keep Dashboard roles in sync"
okta_push_group "Applivery Admins"
ADMINS="$ID"
expect "Okta pushes the group 'Applivery Admins'" "$STATUS" 201
okta_add_member "$ADMINS" "$EVE" eve@applivery.test
expect "Okta adds Eve to 'Applivery Admins'" "$STATUS" 200
expect "the group makes Eve an Admin collaborator in Dashboard" "$(roles "$EVE")" \
  "Dashboard/Admin (group Applivery Admins), Enterprise Store/Viewer (default), MDM/Editor (default)"
okta_create_user finn@applivery.test Finn Park
FINN="$ID"
okta_add_member "$ADMINS" "$FINN" finn@applivery.test
okta_remove_member "$ADMINS" "$FINN"
expect "Okta removes Finn from the group" "$STATUS" 200
expect "leaving the group removes the Dashboard role, the other defaults stay" "$(roles "$FINN")" \
  "Enterprise Store/Viewer (default), MDM/Editor (default)"

echo "# Deactivate users: Store and Dashboard remove the user, MDM leaves it to the product"
okta_set_active "$EVE" false
expect_match "Okta deactivates Eve" "$STATUS" "20[04]"
expect "deactivation suspends the Store and Dashboard roles and keeps MDM's" "$(roles "$EVE")" \
  "MDM/Editor (default)"
adm GET "$ADM/users/$EVE/access"
expect "/access shows Eve inactive" "$(js 'd["active"]')" false

echo "# Reactivation gives back what the lifecycle and the groups grant"
okta_set_active "$EVE" true
expect_match "Okta reactivates Eve" "$STATUS" "20[04]"
expect "Eve is a Store employee, Dashboard Admin and MDM employee again" "$(roles "$EVE")" \
  "Dashboard/Admin (group Applivery Admins), Enterprise Store/Viewer (default), MDM/Editor (default)"

finish
