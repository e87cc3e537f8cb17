#!/usr/bin/env bash
# Conveyor (shared/seeds/004): the README recipe "Configuring a tenant like
# each of the seed products", then Conveyor's Okta flow over SCIM.
#   bash examples/seeds/conveyor.sh BASE_URL ADMIN_TOKEN SCIM_TOKEN TENANT
# Promises: new users get the default role, which may only be one of the
# lowest roles (Trust Sharer, Assignee Only); a group's role, once assigned,
# replaces the roles given by hand; a role given by hand after it stays beside
# it and survives leaving the group; changing a group's role moves its users
# and again replaces their roles given by hand;
# Billing Admin is given by hand only and never removed by SCIM; deactivation
# removes the user from every other role.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

echo "# Conveyor: configure the tenant as the README recipe says"
recipe POST workspaces '{"name":"conveyor"}'
recipe POST roles '{"name":"Assignee Only","rank":1}'
recipe POST roles '{"name":"Trust Sharer","rank":2}'
recipe POST roles '{"name":"Admin","rank":5}'
recipe POST roles '{"name":"Billing Admin","rank":9,"provisionable":false,"protected":true}'
recipe PUT policy '{"on_create":"grant_default","default_role":"Trust Sharer","default_workspace":"conveyor","max_default_rank":2}'
recipe POST group-mappings '{"group":"Security team","workspace":"conveyor","role":"Admin"}'
MAPPING="$ID"

okta_test_credentials

# grant USER_ID ROLE: a role given by hand in the Conveyor admin interface.
grant() { adm POST "$ADM/users/$1/roles" "{\"workspace\":\"conveyor\",\"role\":\"$2\"}"; }

echo "# The default role is restricted to the lowest roles"
adm PUT "$ADM/policy" '{"default_role":"Admin"}'
expect "a default role above max_default_rank is refused (400)" "$STATUS" 400
expect_match "the refusal names the role and the ceiling" "$(js 'd["error"]["detail"]')" "*'Admin'*max_default_rank 2*"
adm GET "$ADM/policy"
expect "the refused change left Trust Sharer the default" "$(js 'd["default_role"]["name"]')" "Trust Sharer"
adm PUT "$ADM/policy" '{"default_role":"Assignee Only"}'
expect "Assignee Only may be the default too" "$(status_and 'd["default_role"]["name"]')" "200 Assignee Only"
adm PUT "$ADM/policy" '{"default_role":"Trust Sharer"}'
expect "and back to Trust Sharer, as the recipe says" "$(status_and 'd["default_role"]["name"]')" "200 Trust Sharer"

echo "# Billing Admin is never provisioned by SCIM"
adm PUT "$ADM/policy" '{"default_role":"Billing Admin"}'
expect "Billing Admin cannot be the default role (400)" "$STATUS" 400
adm POST "$ADM/group-mappings" '{"group":"Billing","workspace":"conveyor","role":"Billing Admin"}'
expect_match "no group may map to Billing Admin (400, not provisionable)" "$(status_and 'd["error"]["detail"]')" \
  "400 *not provisionable*"

echo "# Push new users: the SCIM default role"
okta_create_user joe@conveyor.test Joe King
JOE="$ID"
expect "Okta creates Joe (201)" "$STATUS" 201
expect "a new user gets the default role, Trust Sharer" "$(roles "$JOE")" "conveyor/Trust Sharer (default)"

echo "# Roles by hand, then a group's role"
grant "$JOE" "Assignee Only"
expect "a role is given by hand (204)" "$STATUS" 204
grant "$JOE" "Billing Admin"
expect "Billing Admin is given by hand (204)" "$STATUS" 204
okta_push_group "Security team"
SECURITY="$ID"
expect "Okta pushes 'Security team'" "$STATUS" 201
okta_add_member "$SECURITY" "$JOE" joe@conveyor.test
expect "Okta adds Joe to 'Security team'" "$STATUS" 200
expect "the group role replaces the other roles when it first applies; Billing Admin stays" "$(roles "$JOE")" \
  "conveyor/Admin (group Security team), conveyor/Billing Admin (manual)"
grant "$JOE" "Assignee Only"
expect "a role given by hand after the group role is stored (204)" "$STATUS" 204
expect "it stays beside the group role" "$(roles "$JOE")" \
  "conveyor/Admin (group Security team), conveyor/Assignee Only (manual), conveyor/Billing Admin (manual)"

echo "# A group pushed without a role: its users get the default role, until it is given one"
okta_create_user lee@conveyor.test Lee Ng
LEE="$ID"
okta_push_group "Design team"
DESIGN="$ID"
okta_add_member "$DESIGN" "$LEE" lee@conveyor.test
expect "a member of a group with no role has the SCIM default role" "$(roles "$LEE")" "conveyor/Trust Sharer (default)"
adm POST "$ADM/group-mappings" '{"group":"Design team","workspace":"conveyor","role":"Admin"}'
expect "an admin gives the group a role (201)" "$STATUS" 201
expect "its users move to the group's role" "$(roles "$LEE")" "conveyor/Admin (group Design team)"

echo "# Changing the group's role moves its users"
okta_create_user kim@conveyor.test Kim Lo
KIM="$ID"
okta_add_member "$SECURITY" "$KIM" kim@conveyor.test
adm PUT "$ADM/group-mappings/$MAPPING" '{"group":"Security team","workspace":"conveyor","role":"Trust Sharer"}'
expect "an admin changes the group's role (200)" "$STATUS" 200
expect "every member moves to the new role" "$(roles "$KIM")" "conveyor/Trust Sharer (group Security team)"
expect "the group's new role replaces the roles given by hand; Billing Admin stays" "$(roles "$JOE")" \
  "conveyor/Billing Admin (manual), conveyor/Trust Sharer (group Security team)"
adm PUT "$ADM/group-mappings/$MAPPING" '{"group":"Security team","workspace":"conveyor","role":"Admin"}'
expect "and back to Admin" "$(roles "$KIM")" "conveyor/Admin (group Security team)"
grant "$JOE" "Assignee Only"
expect "a role given by hand after the change stays beside the group role" "$STATUS $(roles "$JOE")" \
  "204 conveyor/Admin (group Security team), conveyor/Assignee Only (manual), conveyor/Billing Admin (manual)"

echo "# Leaving the group removes only the group's role"
okta_remove_member "$SECURITY" "$JOE"
expect "Okta removes Joe from 'Security team'" "$STATUS" 200
expect "the hand-given role survives leaving the group, Billing Admin stays, the default is back" \
  "$(roles "$JOE")" "conveyor/Assignee Only (manual), conveyor/Billing Admin (manual), conveyor/Trust Sharer (default)"

echo "# Deactivation removes every role but Billing Admin"
okta_set_active "$JOE" false
expect_match "Okta deactivates Joe" "$STATUS" "20[04]"
expect "deactivation revokes the other roles and keeps Billing Admin" "$(roles "$JOE")" "conveyor/Billing Admin (manual)"
grant "$JOE" "Admin"
expect "a role given by hand to a deactivated user is refused (409 not_granted)" \
  "$(status_and 'd["error"]["code"]')" "409 not_granted"
expect_match "the refusal says why" "$(js 'd["error"]["detail"]')" "*deactivated*"
expect "nothing was stored" "$(roles "$JOE")" "conveyor/Billing Admin (manual)"
okta_set_active "$JOE" true
expect "reactivation gives the default back, not the hand-given roles SCIM removed" "$(roles "$JOE")" \
  "conveyor/Billing Admin (manual), conveyor/Trust Sharer (default)"

finish
