#!/usr/bin/env bash
# Eptura Engage (shared/seeds/003): the README recipe "Configuring a tenant
# like each of the seed products", then Eptura's Okta flow over SCIM.
#   bash examples/seeds/eptura.sh BASE_URL ADMIN_TOKEN SCIM_TOKEN TENANT
# Promises: every user gets the Employee role; usernames are unique (a create
# of an existing username is rejected); attribute updates and deactivation
# apply to the Engage user; a user deleted in Okta is deleted; a pushed group
# is created with its members and mirrors Okta's later changes.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

echo "# Eptura Engage: configure the tenant as the README recipe says"
recipe POST workspaces '{"name":"engage"}'
recipe POST roles '{"name":"Employee","rank":1}'
recipe PUT policy '{"on_delete":"hard","on_create":"grant_default","default_role":"Employee","default_workspace":"engage"}'

okta_test_credentials

# members GROUP_ID: the group's member ids as SCIM answers them, sorted.
members() {
  scim GET "$SCIM/Groups/$1"
  js '" ".join(sorted(m["value"] for m in (d.get("members") or []))) or "none"'
}

echo "# Create users: each gets the Employee role"
okta_create_user gil@eptura.test Gil Hart
GIL="$ID"
expect "Okta creates Gil (201)" "$STATUS" 201
expect "the new user is an Employee in Engage" "$(roles "$GIL")" "engage/Employee (default)"
okta_create_user hal@eptura.test Hal Ito
HAL="$ID"
okta_create_user ida@eptura.test Ida Jones
IDA="$ID"

echo "# Unique usernames: a create of an existing username is rejected"
okta_create_user gil@eptura.test Gil Hart
expect "the same username again is refused with 409 uniqueness" "$(status_and 'd.get("scimType")')" "409 uniqueness"
okta_create_user GIL@EPTURA.TEST Gil Hart
expect "the username in other case is refused too" "$STATUS" 409
expect "only one user has the username" "$(count_users gil@eptura.test)" 1

echo "# Update user attributes"
scim PUT "$SCIM/Users/$GIL" "{\"schemas\":[\"$USER_SCHEMA\"],\"userName\":\"gil@eptura.test\",\"active\":true,
  \"name\":{\"givenName\":\"Gilbert\",\"familyName\":\"Hart\"},\"displayName\":\"Gilbert Hart\",
  \"emails\":[{\"primary\":true,\"value\":\"gil@eptura.test\",\"type\":\"work\"}]}"
expect "Okta's profile push (PUT) answers 200" "$STATUS" 200
scim GET "$SCIM/Users/$GIL"
expect "the Engage user shows the new attributes" "$(js '[d["name"]["givenName"], d["displayName"]]')" \
  '["Gilbert","Gilbert Hart"]'

echo "# Push group: the group and its members mirror Okta's"
okta_push_group "Engage London"
LONDON="$ID"
expect "Okta pushes the group (201)" "$STATUS" 201
okta_add_member "$LONDON" "$GIL" gil@eptura.test
okta_add_member "$LONDON" "$HAL" hal@eptura.test
expect "members Okta adds show in GET /Groups/{id}" "$(members "$LONDON")" \
  "$(sorted_words "$GIL" "$HAL")"
scim PATCH "$SCIM/Groups/$LONDON" "{$PATCH_OP,\"Operations\":[{\"op\":\"remove\",\"path\":\"members[value eq \\\"$GIL\\\"]\"},
  {\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"$IDA\",\"display\":\"ida@eptura.test\"}]}]}"
expect "one PATCH removing Gil and adding Ida succeeds" "$STATUS" 200
expect "the group's members follow: Gil out, Ida in" "$(members "$LONDON")" \
  "$(sorted_words "$HAL" "$IDA")"
okta_remove_member "$LONDON" "$HAL"
expect "a member Okta removes is gone from the group" "$(members "$LONDON")" "$IDA"
scim POST "$SCIM/Groups" "{\"schemas\":[\"$GROUP_SCHEMA\"],\"displayName\":\"Engage Paris\",
  \"members\":[{\"value\":\"$GIL\"},{\"value\":\"00u-not-in-engage\"}]}"
PARIS="$(id_of_answer)"
expect "a group pushed with its memberships is created (201)" "$STATUS" 201
expect "members who exist in Engage are mapped to it, the others are not" "$(members "$PARIS")" "$GIL"
okta_rename_group "$LONDON" "Engage London HQ"
scim GET "$SCIM/Groups/$LONDON"
expect "a rename in Okta renames the group" "$(js 'd["displayName"]')" "Engage London HQ"
scim GET "$SCIM/Users/$IDA"
expect "the user's groups show the membership" "$(js '[g["value"] for g in d.get("groups", [])]')" "[\"$LONDON\"]"
expect "pushed groups without a mapping grant no extra role" "$(roles "$IDA")" "engage/Employee (default)"

echo "# Deactivate users"
okta_set_active "$HAL" false
expect_match "Okta deactivates Hal" "$STATUS" "20[04]"
scim GET "$SCIM/Users/$HAL"
expect "Hal is inactive in Engage" "$(js 'd["active"]')" false

echo "# Delete users: deleted for good"
scim DELETE "$SCIM/Users/$IDA"
expect "DELETE /Users/{id} answers 204" "$STATUS" 204
scim GET "$SCIM/Users/$IDA"
expect "the deleted user is gone (404)" "$STATUS" 404
adm GET "$ADM/users/$IDA/access"
expect "the admin API does not know it either (404)" "$STATUS" 404
adm GET "$ADM/users?deleted=true"
expect "the admin API lists no deleted user to restore" "$(js 'd["data"]')" "[]"
adm POST "$ADM/users/$IDA/restore"
expect "it cannot be restored (404)" "$STATUS" 404
expect "the deleted user left the group" "$(members "$LONDON")" none
okta_create_user ida@eptura.test Ida Jones
expect "the username is free again: Okta creates a new user, with a new id" \
  "$STATUS $([ -n "$ID" ] && [ "$ID" != "$IDA" ] && echo new-id)" "201 new-id"

echo "# Unlink a pushed group with 'delete the group in the target app'"
scim DELETE "$SCIM/Groups/$LONDON"
expect "DELETE /Groups/{id} answers 204" "$STATUS" 204
scim GET "$SCIM/Groups/$LONDON"
expect "the group is gone (404)" "$STATUS" 404

finish
