#!/usr/bin/env bash
# VIDIZMO (shared/seeds/001): the README recipe "Configuring a tenant like each
# of the seed products", then VIDIZMO's Okta flow over SCIM.
#   bash examples/seeds/vidizmo.sh BASE_URL ADMIN_TOKEN SCIM_TOKEN TENANT
# Promises: a default CAL for every provisioned user; a rule picks a better CAL
# by group; when CALs run out a new user is still created, without a CAL, and
# the product is told that no CAL is free (VIDIZMO notifies the admin); what
# Okta does to existing users (group removal, deactivation, reactivation) is
# never refused: a user who cannot get the better CAL keeps its own and waits,
# and a freed CAL goes to the user waiting longest; users are never deleted for
# good and can be restored, with the groups Okta left them in and the CAL those
# give; renaming a group in Okta keeps its CAL rule.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# wait_for_event TYPE SUBJECT_ID: the last answer is the event feed of TYPE
# once an event of SUBJECT_ID shows (on PostgreSQL an event shows once every
# older transaction has ended: a moment); after 5 s, the feed as it is.
wait_for_event() {
  local i
  for i in $(seq 1 50); do
    adm GET "$ADM/events?type=$1&limit=1000"
    [ "$(js '"'"$2"'" in [e["subject"]["id"] for e in d["data"]]')" = true ] && return
    sleep 0.1
  done
}

echo "# VIDIZMO: configure the tenant as the README recipe says"
recipe POST licence-types '{"name":"Viewer CAL","seat_limit":500,"default":true}'
VIEWER_CAL="$ID"
recipe POST licence-types '{"name":"Publisher CAL","seat_limit":50}'
PUBLISHER_CAL="$ID"
recipe POST group-mappings '{"group":"Publishers","licence_type":"Publisher CAL"}'
recipe PUT policy '{"seats_exhausted":"create_unlicensed","on_delete":"soft"}'

okta_test_credentials

echo "# The default CAL for every user provisioned from Okta"
okta_create_user amy@vidizmo.test Amy Ames
AMY="$ID"
expect "Okta creates a user (201)" "$STATUS" 201
expect "the new user gets the default CAL" "$(licence "$AMY")" "Viewer CAL / waiting for -"
adm GET "$ADM/users/$AMY/access"
expect "its source is the default" "$(js 'd["licence"]["source"]')" default

echo "# A rule picks the CAL by group"
okta_push_group Publishers
PUBS="$ID"
expect "Okta pushes the group Publishers" "$STATUS" 201
okta_add_member "$PUBS" "$AMY" amy@vidizmo.test
expect "Okta adds Amy to Publishers" "$STATUS" 200
expect "the group's rule gives the better CAL" "$(licence "$AMY")" "Publisher CAL / waiting for -"
adm GET "$ADM/users/$AMY/access"
expect "its source is the group" "$(js 'd["licence"]["source"]')" "group:$PUBS"

echo "# When CALs run out (pools made small so that this takes few users)"
adm PATCH "$ADM/licence-types/$PUBLISHER_CAL" '{"seat_limit":1}'
expect "an admin lowers Publisher CAL to the 1 seat in use" "$STATUS" 200
adm PATCH "$ADM/licence-types/$VIEWER_CAL" '{"seat_limit":2}'
expect "an admin lowers Viewer CAL to 2 seats" "$STATUS" 200
okta_create_user cat@vidizmo.test Cat Cole   # Cat is created first, Bob will wait first
CAT="$ID"
okta_create_user bob@vidizmo.test Bob Baker
BOB="$ID"
expect "two more users take the two Viewer CALs" "$(licence "$BOB"); $(licence "$CAT")" \
  "Viewer CAL / waiting for -; Viewer CAL / waiting for -"
okta_create_user dan@vidizmo.test Dan Dorn
DAN="$ID"
expect "a new user is created when no CAL is left (201)" "$STATUS" 201
adm GET "$ADM/users/$DAN/access"
expect "it holds no CAL and waits for the default one" \
  "$(js '[(d["licence"] or {}).get("type"), d["licence_status"], d["waiting"]["for"]["name"]]')" \
  '[null,"unlicensed_no_seats","Viewer CAL"]'
wait_for_event licence.waiting "$DAN"
expect "the product is told that no CAL is free for it (licence.waiting)" \
  "$(js '[e["data"]["licence_type"]["id"] for e in d["data"] if e["subject"]["id"] == "'"$DAN"'"]')" \
  "[\"$VIEWER_CAL\"]"

echo "# A user who cannot get the better CAL keeps its own and waits"
okta_add_member "$PUBS" "$BOB" bob@vidizmo.test
expect "adding Bob to Publishers with no Publisher CAL left is not refused" "$STATUS" 200
expect "Bob keeps his Viewer CAL and waits for a Publisher CAL" "$(licence "$BOB")" \
  "Viewer CAL / waiting for Publisher CAL"
adm GET "$ADM/users/$BOB/access"
expect_match "/access says since when Bob waits" "$(js 'd["waiting"]["since"]')" "20[0-9][0-9]-*"
okta_add_member "$PUBS" "$CAT" cat@vidizmo.test
expect "Cat, added to the group after Bob, waits too" "$(licence "$CAT")" "Viewer CAL / waiting for Publisher CAL"
adm GET "$ADM/licence-types"
expect "the licence types show seats used and waiting" \
  "$(js '{l["name"]: [l["seat_limit"], l["used"], l["waiting"]] for l in d}')" \
  '{"Publisher CAL":[1,1,2],"Viewer CAL":[2,2,1]}'

echo "# Deactivation is never refused, and the freed CAL goes to the longest waiter"
okta_set_active "$AMY" false
expect_match "Okta deactivates Amy" "$STATUS" "20[04]"
expect "Amy's CAL is released" "$(licence "$AMY")" "- / waiting for -"
expect "her Publisher CAL goes to Bob, who waited longest (not to Cat, created first)" "$(licence "$BOB")" "Publisher CAL / waiting for -"
expect "Cat still waits, keeping her Viewer CAL" "$(licence "$CAT")" "Viewer CAL / waiting for Publisher CAL"
expect "the Viewer CAL Bob gave back goes to Dan, created without one" "$(licence "$DAN")" \
  "Viewer CAL / waiting for -"
okta_set_active "$AMY" true
expect_match "reactivating Amy with every CAL taken is not refused" "$STATUS" "20[04]"
adm GET "$ADM/users/$AMY/access"
expect "Amy is active again, holds no CAL and waits for the Publisher CAL" \
  "$(js '[d["active"], d["licence"].get("type"), d["licence_status"], d["waiting"]["for"]["name"]]')" \
  '[true,null,"unlicensed_no_seats","Publisher CAL"]'

echo "# Removal from a group is never refused"
okta_remove_member "$PUBS" "$CAT"
expect "Okta removes Cat from Publishers" "$STATUS" 200
expect "Cat keeps her Viewer CAL and no longer waits" "$(licence "$CAT")" "Viewer CAL / waiting for -"

echo "# Renaming the group in Okta keeps its CAL rule"
okta_rename_group "$PUBS" "Publishers (all regions)"
expect_match "Okta's rename (PATCH repeating the id) succeeds" "$STATUS" "20[04]"
scim GET "$SCIM/Groups/$PUBS"
expect "the group has its new name" "$(js 'd["displayName"]')" "Publishers (all regions)"
expect "Bob keeps the Publisher CAL through the rename" "$(licence "$BOB")" "Publisher CAL / waiting for -"
adm GET "$ADM/group-mappings"
expect "the rule is bound to the renamed group's id" "$(js '[m["group"] for m in d]')" "[\"$PUBS\"]"
adm PATCH "$ADM/licence-types/$PUBLISHER_CAL" '{"seat_limit":50}'
adm PATCH "$ADM/licence-types/$VIEWER_CAL" '{"seat_limit":500}'
expect "back at the recipe's 50 seats, the renamed group's rule seats Amy" "$(licence "$AMY")" \
  "Publisher CAL / waiting for -"

echo "# Users are never deleted for good, and can be restored"
scim DELETE "$SCIM/Users/$DAN"
expect "a SCIM DELETE answers 204" "$STATUS" 204
scim GET "$SCIM/Users/$DAN"
expect "SCIM no longer sees the user (404)" "$STATUS" 404
expect "nor finds it by userName" "$(count_users dan@vidizmo.test)" 0
adm GET "$ADM/users?deleted=true"
expect "the admin API lists the deleted user" "$(js '[u["id"] for u in d["data"]]')" "[\"$DAN\"]"
adm GET "$ADM/users/$DAN/access"
expect "the deleted user holds no CAL" "$(js '[d["deleted"], d["licence"]]')" "[true,null]"
adm POST "$ADM/users/$DAN/restore"
expect "the admin API restores it (200)" "$STATUS" 200
scim GET "$SCIM/Users/$DAN"
expect "SCIM sees the restored user again, with its id" "$(status_and 'd["id"]')" "200 $DAN"
expect "the restored user gets a CAL again" "$(licence "$DAN")" "Viewer CAL / waiting for -"
scim DELETE "$SCIM/Users/$DAN"
okta_create_user dan@vidizmo.test Dan Dorn
expect "Okta creating the same userName again restores the same user" "$STATUS $ID" "201 $DAN"

echo "# A restored Publisher comes back in its groups, with its Publisher CAL"
scim DELETE "$SCIM/Users/$BOB"
expect "Okta deletes Bob, a Publisher (204)" "$STATUS" 204
scim GET "$SCIM/Groups/$PUBS"
expect "the group no longer shows him" "$(js '"'"$BOB"'" in [m["value"] for m in d.get("members", [])]')" false
adm GET "$ADM/licence-types"
expect "his Publisher CAL is free again" "$(js '[l["used"] for l in d if l["name"] == "Publisher CAL"]')" "[1]"
adm POST "$ADM/users/$BOB/restore"
expect "the admin API restores him (200)" "$STATUS" 200
scim GET "$SCIM/Users/$BOB"
expect "he is in Publishers again" "$(js '[g["value"] for g in d.get("groups", [])]')" "[\"$PUBS\"]"
expect "and holds the Publisher CAL again, not a Viewer CAL" "$(licence "$BOB")" "Publisher CAL / waiting for -"
scim DELETE "$SCIM/Users/$BOB"
okta_create_user bob@vidizmo.test Bob Baker
expect "Okta creating him again restores him, in Publishers" "$STATUS $(js '[g["value"] for g in d.get("groups", [])]')" \
  "201 [\"$PUBS\"]"
expect "with the Publisher CAL" "$(licence "$BOB")" "Publisher CAL / waiting for -"

finish
